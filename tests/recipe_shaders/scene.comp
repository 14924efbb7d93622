#version 450
// Compute with two specialization constants and push constants.
layout(local_size_x = 8) in;
layout(constant_id = 0) const uint SEED = 1u;
layout(constant_id = 1) const float SCALE = 1.0;
layout(push_constant) uniform Push { uint offset; uint count; } push;
layout(set = 0, binding = 0) buffer Data { float values[]; } data;
void main() {
    uint index = gl_GlobalInvocationID.x + push.offset;
    if (index < push.count) {
        data.values[index] = float(index * SEED) * SCALE;
    }
}
