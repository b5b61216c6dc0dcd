#include "core/dtype.h"

#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

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

namespace {

// Loading an fp16 checkpoint into fp32 weights, and the CPU backend's 16-bit weights, widen billions of values:
// F16C's vcvtph2ps takes 8 at once (exactly, as f16_to_f32: unit.backend checks all 65536); converting value
// by value was most of opt-1.3b's 10-13 s load into fp32 weights (results/checkpoint-load). GCC 12 does not
// vectorize a _Float16 → float loop into it, so the intrinsic, on the CPUs that have it (every x86-64 since
// 2013), and the scalar conversion elsewhere.
#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void widen_f16_f16c(const uint16_t* src, float* dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

bool cpu_has_f16c() {  // from cpuid: clang's __builtin_cpu_supports knows no "f16c"
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && __builtin_cpu_supports("avx");
}
#endif

void widen_f16(const uint16_t* src, float* dst, size_t n) {
#if defined(__x86_64__)
    static const bool f16c = cpu_has_f16c();
    if (f16c) return widen_f16_f16c(src, dst, n);
#endif
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

// bf16 is the top half of an fp32: widening is a shift, which the compiler vectorizes.
#if defined(__x86_64__) && !defined(__clang__)  // clang 14 takes no arch= clones
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void widen_bf16(const uint16_t* src, float* dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = std::bit_cast<float>(uint32_t(src[i]) << 16);
}

}  // namespace

void convert_to_f32(const void* src, DType src_type, float* dst, size_t n) {
    switch (src_type) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: return widen_f16(static_cast<const uint16_t*>(src), dst, n);
        case DType::BF16: return widen_bf16(static_cast<const uint16_t*>(src), dst, n);
        default: raise("cannot convert ", dtype_name(src_type), " tensors to float32");
    }
}

void convert_from_f32(const float* src, DType dst_type, void* dst, size_t n) {
    switch (dst_type) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
            return;
        }
        case DType::BF16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
            return;
        }
        default: raise("cannot convert float32 tensors to ", dtype_name(dst_type));
    }
}

}  // namespace ls
