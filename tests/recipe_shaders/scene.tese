#version 450
layout(triangles, equal_spacing, ccw) in;
layout(location = 0) in vec2 uv[];
layout(location = 1) in vec4 color[];
layout(location = 0) out vec2 out_uv;
layout(location = 1) out vec4 out_color;
void main() {
    gl_Position = gl_TessCoord.x * gl_in[0].gl_Position + gl_TessCoord.y * gl_in[1].gl_Position
        + gl_TessCoord.z * gl_in[2].gl_Position;
    out_uv = gl_TessCoord.x * uv[0] + gl_TessCoord.y * uv[1] + gl_TessCoord.z * uv[2];
    out_color = color[0];
}
