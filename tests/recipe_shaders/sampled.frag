#version 450
// Samples two immutable samplers; a specialization constant and push constants.
layout(constant_id = 0) const float TINT = 1.0;
layout(set = 0, binding = 0) uniform sampler2D textures[2];
layout(push_constant) uniform Push { layout(offset = 16) vec4 color; } push;
layout(location = 0) in vec2 uv;
layout(location = 1) in vec4 color;
layout(location = 0) out vec4 result;
void main() {
    result = (texture(textures[0], uv) + texture(textures[1], uv)) * color * push.color * TINT;
}
