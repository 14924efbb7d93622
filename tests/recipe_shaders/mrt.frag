#version 450
// Two color outputs (two attachments).
layout(location = 0) in vec2 uv;
layout(location = 1) in vec4 color;
layout(location = 0) out vec4 first;
layout(location = 1) out vec4 second;
void main() {
    first = color;
    second = vec4(uv, 0.0, 1.0);
}
