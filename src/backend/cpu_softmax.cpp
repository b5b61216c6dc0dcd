#include "backend/cpu_softmax.h"

#include <bit>
#include <cmath>
#include <limits>

namespace ls {

namespace {


// x = k·ln 2 + r with k = round(x / ln 2), |r| <= ln 2 / 2; exp(x) = 2^k · exp(r). ln 2 is split in two (Cody and
// Waite) so that k·ln2_hi is exact and r keeps its digits; exp(r) by the minimax polynomial of Cephes' expf
// (Moshier), 2^k by writing k + 127 into the exponent bits. Below -87 it is 0 (std::exp gives denormals down
// to -103.9): 2^k stays a normal float, and such a weight is nothing beside the row maximum's 1. Branch-free
// and inlined, so that the loops below vectorise; each runs in blocks of kCpuLanes and a scalar tail, because
// -O2's cost model vectorises only loops without a remainder.
inline float exp_le0(float x) {
    constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
    constexpr float kRound = 12582912.0f;  // 1.5 · 2^23: adding and subtracting it rounds to an integer
    const bool underflow = x < -87.0f;     // false for NaN, which passes through
    x = underflow ? -87.0f : x;
    const float k = (x * kLog2e + kRound) - kRound;
    const float r = (x - k * kLn2Hi) - k * kLn2Lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const float two_k = std::bit_cast<float>(uint32_t(int32_t(k) + 127) << 23);
    return underflow ? 0.0f : p * two_k;
}

}  // namespace

float exp_nonpositive(float x) { return exp_le0(x); }

// One clone per instruction set, picked when the program loads (the binary targets any x86-64).
__attribute__((target_clones("avx512f", "avx2", "default"))) void softmax_inplace(float* row, int64_t n) {
    if (n <= 0) return;
    float lane[kCpuLanes];
    for (float& l : lane) l = -std::numeric_limits<float>::infinity();
    int64_t j = 0;
    for (; j + kCpuLanes <= n; j += kCpuLanes)
        for (int l = 0; l < kCpuLanes; l++) lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
    float m = -std::numeric_limits<float>::infinity();
    for (; j < n; j++) m = row[j] > m ? row[j] : m;
    for (float l : lane) m = l > m ? l : m;

    for (float& l : lane) l = 0.0f;
    for (j = 0; j + kCpuLanes <= n; j += kCpuLanes)
        for (int l = 0; l < kCpuLanes; l++) lane[l] += (row[j + l] = exp_le0(row[j + l] - m));
    float sum = 0.0f;
    for (; j < n; j++) sum += (row[j] = exp_le0(row[j] - m));
    for (float l : lane) sum += l;

    const float inv = 1.0f / sum;
    for (j = 0; j + kCpuLanes <= n; j += kCpuLanes)
        for (int l = 0; l < kCpuLanes; l++) row[j + l] *= inv;
    for (; j < n; j++) row[j] *= inv;
}

}  // namespace ls
