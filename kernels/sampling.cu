// Greedy sampling on the device: the argmax of each logits row, so only n_rows (index, value) pairs cross
// PCIe, not the [n_rows, n_vocab] logits.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

constexpr int kThreads = 1024;

// The better of two (value, index) candidates: larger value, then smaller index (std::max_element keeps the
// first maximum). NaN never wins: `a > b` and `a == b` are false for it.
__device__ __forceinline__ void keep_best(float& v, int32_t& i, float v2, int32_t i2) {
    if (v2 > v || (v2 == v && i2 < i) || (v != v && v2 == v2)) {
        v = v2;
        i = i2;
    }
}

// Per row: its first maximum among columns [0, n_cols) (row stride `stride`), and that maximum, or NaN in
// out_val when the row holds a NaN or +inf (the forward pass broke; the host's sampler refuses such a row).
// out, out_val: [n_rows]; grid = n_rows.
template <class T>
__global__ void argmax_kernel(int32_t* out, float* out_val, const T* logits, int64_t n_cols, int64_t stride) {
    __shared__ float s_val[kWarp];
    __shared__ int32_t s_idx[kWarp];
    __shared__ int s_bad[kWarp];
    const T* row = logits + int64_t(blockIdx.x) * stride;
    float best = -INFINITY;
    int32_t best_i = INT32_MAX;
    int bad = 0;
    for (int64_t j = threadIdx.x; j < n_cols; j += blockDim.x) {
        const float v = to_f32(row[j]);
        bad |= v != v || v == INFINITY;
        keep_best(best, best_i, v, int32_t(j));
    }
    for (int o = kWarp / 2; o > 0; o /= 2) {
        keep_best(best, best_i, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, best_i, o));
        bad |= __shfl_xor_sync(0xffffffffu, bad, o);
    }
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    if (lane == 0) {
        s_val[warp] = best;
        s_idx[warp] = best_i;
        s_bad[warp] = bad;
    }
    __syncthreads();
    if (warp == 0) {
        const int n_warps = blockDim.x / kWarp;
        best = lane < n_warps ? s_val[lane] : -INFINITY;
        best_i = lane < n_warps ? s_idx[lane] : INT32_MAX;
        bad = lane < n_warps ? s_bad[lane] : 0;
        for (int o = kWarp / 2; o > 0; o /= 2) {
            keep_best(best, best_i, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, best_i, o));
            bad |= __shfl_xor_sync(0xffffffffu, bad, o);
        }
        if (lane == 0) {
            out[blockIdx.x] = best_i == INT32_MAX ? 0 : best_i;  // every column -inf (or NaN): the first
            out_val[blockIdx.x] = bad ? NAN : best;
        }
    }
}

}  // namespace

void argmax_rows(int32_t* out, float* out_val, const void* logits, DType dtype, int64_t n_rows, int64_t n_cols,
                 int64_t stride, cudaStream_t stream) {
    if (n_rows == 0) return;
    ENSURE(n_cols > 0 && n_cols < INT32_MAX && stride >= n_cols, "kernels::argmax_rows: ", n_cols,
           " columns, row stride ", stride);
    ENSURE(n_rows < (int64_t(1) << 31), "kernels::argmax_rows: ", n_rows, " rows exceed the grid");
    dispatch_float(dtype, "argmax_rows", [&](auto tag) {
        using T = typename decltype(tag)::type;
        argmax_kernel<T><<<unsigned(n_rows), kThreads, 0, stream>>>(out, out_val, static_cast<const T*>(logits),
                                                                     n_cols, stride);
    });
    LAUNCH_CHECK();
}

}  // namespace ls::kernels
