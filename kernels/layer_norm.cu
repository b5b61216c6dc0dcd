// LayerNorm, one block per row: mean, then variance around that mean (two passes over a row that stays in
// L1/L2, as the CPU reference does in double: one-pass E[x²] − mean² loses digits on rows with a large mean).
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

// y, x: [n, d]; gamma, beta: [d]. grid = n rows.
template <class T, class W>
__global__ void layer_norm_kernel(T* y, const T* x, const W* gamma, const W* beta, int64_t d, float eps) {
    __shared__ float scratch[kWarp];
    const T* xi = x + int64_t(blockIdx.x) * d;
    T* yi = y + int64_t(blockIdx.x) * d;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += to_f32(xi[j]);
    const float mean = block_sum(s, scratch) / float(d);
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        const float c = to_f32(xi[j]) - mean;
        v += c * c;
    }
    const float inv = rsqrtf(block_sum(v, scratch) / float(d) + eps);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
        yi[j] = from_f32<T>((to_f32(xi[j]) - mean) * inv * to_f32(gamma[j]) + to_f32(beta[j]));
}

}  // namespace

void layer_norm(void* y, const void* x, const void* gamma, const void* beta, DType dtype, DType w_dtype, int64_t n,
                int64_t d, float eps, cudaStream_t stream) {
    if (n == 0 || d == 0) return;
    ENSURE(w_dtype == DType::F32 || w_dtype == dtype, "kernels::layer_norm: gamma/beta ", dtype_name(w_dtype),
           " for data ", dtype_name(dtype));
    ENSURE(n < (int64_t(1) << 31), "kernels::layer_norm: ", n, " rows exceed the grid");
    // Enough threads that each handles a handful of elements (OPT: d_model 768..12288).
    const int threads = d >= 4096 ? 1024 : d >= 1024 ? 512 : 256;
    dispatch_float(dtype, "layer_norm", [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (w_dtype == DType::F32)
            layer_norm_kernel<T, float><<<unsigned(n), threads, 0, stream>>>(
                static_cast<T*>(y), static_cast<const T*>(x), static_cast<const float*>(gamma),
                static_cast<const float*>(beta), d, eps);
        else
            layer_norm_kernel<T, T><<<unsigned(n), threads, 0, stream>>>(static_cast<T*>(y), static_cast<const T*>(x),
                                                                         static_cast<const T*>(gamma),
                                                                         static_cast<const T*>(beta), d, eps);
    });
    LAUNCH_CHECK();
}

}  // namespace ls::kernels
