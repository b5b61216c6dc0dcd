// Counter-based normals: pair j of a tensor is Box–Muller on splitmix64(key + (j + 1) · γ), so any range of
// elements can be generated on its own, which is what lets threads split a tensor without changing it.
// log, sqrt, sin and cos are our own polynomial / Newton forms rather than libm's: with only + − × ÷ and bit
// operations the loop vectorizes (libm calls and sqrt's errno branch would not), which makes a 1.3B-parameter
// model several times faster to write, and the bytes no longer depend on the libm version. (A compiler that
// fuses a·b + c into FMA would still change the last bit of some values.)
#include "tools/random_fill.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>
#include <vector>

#include "core/check.h"

namespace ls {
namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // splitmix64's increment (2^64 / golden ratio)
constexpr int kBlockPairs = 1024;                   // pairs per block: a few KiB of stack, stays in L1

uint64_t mix64(uint64_t z) {  // splitmix64's output function (Stafford's Mix13)
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// ln(u) for u in (0, 1]: u = m · 2^e with m in [√½, √2), ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| < 0.172,
// so five odd terms of the atanh series leave an error below 1e-9.
float log_unit(float u) {
    const int32_t bits = std::bit_cast<int32_t>(u);
    const int32_t high = (bits & 0x7fffff) > 0x3504f3 ? 1 : 0;  // mantissa above √2: take m/2 and e + 1
    const int32_t e = (bits >> 23) - 127 + high;
    const float m = std::bit_cast<float>((bits & 0x7fffff) | ((127 - high) << 23));
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
    return float(e) * 0.693147180559945f + ln_m;
}

// √x for x in [0, 34] by three Newton steps on 1/√x from the classic bit-level first guess; x = 0 gives 0.
float sqrt_newton(float x) {
    float r = std::bit_cast<float>(0x5f3759df - (std::bit_cast<int32_t>(x) >> 1));
    for (int i = 0; i < 3; ++i) r = r * (1.5f - 0.5f * x * r * r);
    return x * r;
}

// Pairs [j0, j0 + n) of independent N(0, 1) values into xs, ys (n ≤ kBlockPairs). Each 64-bit draw gives a
// 23-bit uniform u in (0, 1) for the radius √(−2 ln u) (so |N| < 5.8) and 24 bits for the angle: 2 bits pick
// the quadrant, 22 bits the angle φ in [−π/4, π/4) within it, where short Taylor series for sin and cos are
// accurate to 3e-7. (Quadrant q then covers [qπ/2 − π/4, qπ/2 + π/4): the circle, uniformly.)
void normal_pairs(uint64_t key, int64_t j0, int n, float* xs, float* ys) {
    int32_t radius_bits[kBlockPairs], angle_bits[kBlockPairs];
    for (int k = 0; k < n; ++k) {  // the 64-bit multiplies stay scalar; the loop below vectorizes
        const uint64_t r = mix64(key + uint64_t(j0 + k + 1) * kGamma);
        radius_bits[k] = int32_t(r >> 41);
        angle_bits[k] = int32_t((r >> 16) & 0xffffff);
    }
    for (int k = 0; k < n; ++k) {
        const float u = float(2 * radius_bits[k] + 1) * 0x1p-24f;  // odd multiples of 2^-24: exact, never 0
        const float radius = sqrt_newton(-2.0f * log_unit(u));
        const int32_t q = angle_bits[k] >> 22;
        const float phi = float(angle_bits[k] & 0x3fffff) * (0x1p-22f * 1.57079632679489662f) - 0.785398163397448f;
        const float p2 = phi * phi;
        const float sin_phi = phi * (1.0f + p2 * (-1.0f / 6 + p2 * (1.0f / 120 + p2 * (-1.0f / 5040))));
        const float cos_phi = 1.0f + p2 * (-0.5f + p2 * (1.0f / 24 + p2 * (-1.0f / 720 + p2 * (1.0f / 40320))));
        // Rotate (cos φ, sin φ) by q · 90° with bit operations (branch-free, so it vectorizes):
        // q = 0: (c, s), 1: (−s, c), 2: (−c, −s), 3: (s, −c).
        const int32_t swap = -(q & 1);
        const int32_t c = std::bit_cast<int32_t>(cos_phi), s = std::bit_cast<int32_t>(sin_phi);
        const int32_t x = (c & ~swap) | (s & swap), y = (s & ~swap) | (c & swap);
        const int32_t x_sign = ((q + 1) & 2) << 30, y_sign = (q & 2) << 30;
        xs[k] = radius * std::bit_cast<float>(x ^ x_sign);
        ys[k] = radius * std::bit_cast<float>(y ^ y_sign);
    }
}

// dtype.h's f32_to_f16 rounding, restated without branches: the rounding branch of the scalar version is a coin
// flip on random data, and mispredicting it made the conversion cost twice the generation. Both paths are
// computed and one is selected, so the loop vectorizes. Bit-exact with f32_to_f16 for every input (tested).
uint16_t f32_to_f16_branchless(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (bits >> 16) & 0x8000, a = bits & 0x7fffffff;
    // Normal half (|f| >= 2^-14): re-bias the exponent, round the 23-bit mantissa to 10 bits to nearest even;
    // a carry out of the mantissa correctly bumps the exponent.
    const uint32_t rebiased = a - ((127u - 15u) << 23);
    const uint32_t normal = (rebiased + 0xfffu + ((rebiased >> 13) & 1u)) >> 13;
    // Subnormal half: |f| + 0.5 has an ulp of 2^-24, so the FPU's own round-to-nearest-even leaves |f| / 2^-24
    // rounded in the low bits (1024 = 2^-14, the smallest normal half, which is also its encoding).
    const uint32_t subnormal = std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0.5f) - 0x3f000000u;
    uint32_t h = a < 0x38800000u ? subnormal : normal;
    h = a >= 0x477ff000u ? 0x7c00u : h;  // rounds past 65504: infinity
    h = a > 0x7f800000u ? 0x7e00u : h;   // NaN
    return uint16_t(sign | h);
}

void store(const float* src, DType dtype, void* dst, int64_t n) {
    if (dtype == DType::F32) {
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    }
    auto* d = static_cast<uint16_t*>(dst);
    if (dtype == DType::F16)
        for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16_branchless(src[i]);
    else
        for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

// Elements [i0, i1) of the tensor (i0 even), block by block: normals as float, then rounded to dtype.
void fill_range(uint8_t* dst, DType dtype, int64_t i0, int64_t i1, const NormalFill& f) {
    float xs[kBlockPairs], ys[kBlockPairs], block[2 * kBlockPairs];
    const size_t esize = dtype_size(dtype);
    for (int64_t b = i0; b < i1; b += 2 * kBlockPairs) {
        const int64_t n = std::min(i1 - b, int64_t(2) * kBlockPairs);
        const int n_pairs = int((n + 1) / 2);
        normal_pairs(f.key, b / 2, n_pairs, xs, ys);
        for (int k = 0; k < n_pairs; ++k) {  // element 2j is x_j, element 2j + 1 is y_j
            block[2 * k] = f.mean + f.std * xs[k];
            block[2 * k + 1] = f.mean + f.std * ys[k];
        }
        store(block, dtype, dst + size_t(b) * esize, n);
    }
}

}  // namespace

uint64_t tensor_key(uint64_t seed, const std::string& name) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the name
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
    return mix64(mix64(seed) ^ h);
}

void fill_normal(void* dst, DType dtype, int64_t n, const NormalFill& f, int n_threads) {
    ENSURE(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
           "fill_normal: unsupported dtype ", dtype_name(dtype));
    auto* bytes = static_cast<uint8_t*>(dst);
    // Threads pay off only on big tensors; below ~1M elements the start-up cost dominates.
    const int64_t n_parts = std::clamp<int64_t>(n / (int64_t(1) << 20), 1, std::max(1, n_threads));
    if (n_parts == 1) {
        fill_range(bytes, dtype, 0, n, f);
        return;
    }
    std::vector<std::thread> threads;
    const int64_t per_part = (n / n_parts + 1) & ~int64_t(1);  // even, so each part starts a pair
    for (int64_t p = 0; p < n_parts; ++p) {
        const int64_t i0 = std::min(n, p * per_part), i1 = (p + 1 == n_parts) ? n : std::min(n, i0 + per_part);
        threads.emplace_back(fill_range, bytes, dtype, i0, i1, std::cref(f));
    }
    for (auto& t : threads) t.join();
}

}  // namespace ls
