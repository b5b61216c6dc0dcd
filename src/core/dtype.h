// Element types of checkpoint tensors and device buffers, and the scalar conversions between them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ls {

enum class DType { F32, F16, BF16, I32, I64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "F16", "BF16", "I32", "I64"
const char* dtype_torch_name(DType t);  // --dtype spelling: "float32", "float16", "bfloat16", "int32", "int64"

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even; overflow → ±inf
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);  // round to nearest even

// Converts n elements of type `src_type` at src to float32 at dst (F32, F16, BF16 only).
void convert_to_f32(const void* src, DType src_type, float* dst, size_t n);
// Converts n float32 values at src to `dst_type` at dst (F32, F16, BF16; round to nearest even).
void convert_from_f32(const float* src, DType dst_type, void* dst, size_t n);

}  // namespace ls
