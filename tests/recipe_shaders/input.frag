#version 450
// Reads the previous subpass's color through an input attachment.
layout(input_attachment_index = 0, set = 0, binding = 1) uniform subpassInput previous;
layout(location = 0) out vec4 result;
void main() {
    result = subpassLoad(previous) * 0.5;
}
