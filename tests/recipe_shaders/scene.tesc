#version 450
layout(vertices = 3) out;
layout(location = 0) in vec2 uv[];
layout(location = 1) in vec4 color[];
layout(location = 0) out vec2 out_uv[];
layout(location = 1) out vec4 out_color[];
void main() {
    gl_out[gl_InvocationID].gl_Position = gl_in[gl_InvocationID].gl_Position;
    out_uv[gl_InvocationID] = uv[gl_InvocationID];
    out_color[gl_InvocationID] = color[gl_InvocationID];
    gl_TessLevelInner[0] = 2.0;
    gl_TessLevelOuter[0] = 2.0;
    gl_TessLevelOuter[1] = 2.0;
    gl_TessLevelOuter[2] = 2.0;
}
