#version 450
// Three vertex bindings: position and uv per vertex, color per instance.
layout(location = 0) in vec3 position;
layout(location = 1) in vec2 uv;
layout(location = 2) in vec4 instance_color;
layout(location = 0) out vec2 out_uv;
layout(location = 1) out vec4 out_color;
layout(push_constant) uniform Push { vec4 offset; } push;
void main() {
    gl_Position = vec4(position, 1.0) + push.offset;
    out_uv = uv;
    out_color = instance_color;
}
