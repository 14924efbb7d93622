#version 450
// A full-screen-ish triangle from gl_VertexIndex: no vertex buffers needed.
layout(location = 0) out vec3 color;
void main() {
    vec2 corners[3] = vec2[](vec2(-1.0, -1.0), vec2(3.0, -1.0), vec2(-1.0, 3.0));
    gl_Position = vec4(corners[gl_VertexIndex], 0.0, 1.0);
    color = vec3(corners[gl_VertexIndex] * 0.5 + 0.5, 0.25);
}
