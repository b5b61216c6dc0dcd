#include "core/dtype.h"

#include <cstring>

#include "core/check.h"

namespace ls {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::I32: return 4;
        case DType::I64: return 8;
    }
    return 0;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::I32: return "I32";
        case DType::I64: return "I64";
    }
    return "?";
}

const char* dtype_torch_name(DType t) {
    switch (t) {
        case DType::F32: return "float32";
        case DType::F16: return "float16";
        case DType::BF16: return "bfloat16";
        case DType::I32: return "int32";
        case DType::I64: return "int64";
    }
    return "?";
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: renormalize
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx > 0x7f800000) return uint16_t(sign | 0x7e00);  // NaN
    if (absx >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds to inf
    if (absx < 0x38800000) {  // below half's smallest normal (2^-14): a subnormal half, unit 2^-24
        if (absx < 0x33000000) return uint16_t(sign);  // under 2^-25 rounds to zero
        uint32_t e = absx >> 23;                          // value = man · 2^(e-150)
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        uint32_t drop = 126 - e;                          // q = value / 2^-24 = man >> (126 - e)
        uint32_t q = man >> drop;
        uint32_t rem = man & ((1u << drop) - 1);
        uint32_t halfway = 1u << (drop - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return uint16_t(sign | q);
    }
    uint32_t e = ((absx >> 23) - 127 + 15);
    uint32_t man = absx & 0x7fffff;
    uint32_t q = (e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;  // may carry into the exponent: still correct
    return uint16_t(sign | q);
}

float bf16_to_f32(uint16_t b) {
    uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return uint16_t((x >> 16) | 0x40);  // quiet NaN
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return uint16_t((x + rounding) >> 16);
}

void convert_to_f32(const void* src, DType src_type, float* dst, size_t n) {
    switch (src_type) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            auto* s = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
            return;
        }
        case DType::BF16: {
            auto* s = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        default: raise("cannot convert ", dtype_name(src_type), " tensors to float32");
    }
}

}  // namespace ls
