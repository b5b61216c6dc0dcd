// The softmax of the CPU backend's attention. With a scalar std::exp per score, a long prompt's prefill spent
// most of its attention time here (results/cpu-attention-softmax: 123 → 49 ms a layer once vectorised).
#pragma once
#include <cstdint>

namespace ls {

// The width the CPU backend's vector loops are written for: one AVX-512 register of floats, two AVX2 ones.
constexpr int kCpuLanes = 16;

// row[0, n) = exp(row - max) / sum(exp(row - max)), in place, in vector registers: exp by a polynomial (within
// 2 ulp of exp for the arguments a softmax has, <= 0), the max and the sum in 16 independent lanes. Not
// bitwise std::exp's result (a GPU's expf is not either). A NaN in the row makes the whole row NaN.
void softmax_inplace(float* row, int64_t n);

// exp(x) for x <= 0, the function softmax_inplace uses (for its test); 0 below -87.
float exp_nonpositive(float x);

}  // namespace ls
