#version 450
// A compute kernel with a specialization constant, so one SPIR-V module yields many distinct
// pipelines (the test and demo "pipeline sets").
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint SEED = 1u;
shared uint scratch[64];
void main() {
    uint lane = gl_LocalInvocationID.x;
    uint value = lane * SEED + 0x9e3779b9u;
    for (uint round = 0u; round < 4u + (SEED & 3u); ++round) {
        value = (value ^ (value >> 15)) * 0x2c1b3c6du;
    }
    scratch[lane] = value;
    barrier();
    scratch[lane] ^= scratch[(lane + SEED) & 63u];
}
