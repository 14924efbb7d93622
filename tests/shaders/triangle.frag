#version 450
layout(constant_id = 0) const float TINT = 1.0;
layout(location = 0) in vec3 color;
layout(location = 0) out vec4 result;
void main() {
    result = vec4(color * TINT, 1.0);
}
