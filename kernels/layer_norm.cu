// LayerNorm, one block per row: mean, then variance around that mean (two passes over a row that stays in
// L1/L2, as the CPU reference does in double: one-pass E[x²] − mean² loses digits on rows with a large mean).
// Its fused form first adds a row-parallel layer's output and bias into the residual stream, in the same
// pass that sums the row (FasterTransformer's add-bias-residual-layernorm): one kernel where there were two.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

// y, x: [n, d]; gamma, beta: [d]. grid = n rows. kAdd: x += r + bias first (r: [n, d], bias: [d]), stored
// rounded to T and normalised as stored, so the result is bitwise add_residual's then layer_norm's. Each
// thread reads back only the elements it wrote, and y may be x (post-LN normalises the stream in place).
template <class T, class W, bool kAdd>
__global__ void layer_norm_kernel(T* y, T* x, const T* r, const T* bias, const W* gamma, const W* beta, int64_t d,
                                  float eps) {
    __shared__ float scratch[kWarp];
    T* xi = x + int64_t(blockIdx.x) * d;
    T* yi = y + int64_t(blockIdx.x) * d;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        if constexpr (kAdd) {
            const float ri = to_f32(r[int64_t(blockIdx.x) * d + j]);
            xi[j] = from_f32<T>(to_f32(xi[j]) + (ri + to_f32(bias[j])));
        }
        s += to_f32(xi[j]);
    }
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

template <bool kAdd>
void launch_layer_norm(void* y, void* x, const void* r, const void* bias, const void* gamma, const void* beta,
                       DType dtype, DType w_dtype, int64_t n, int64_t d, float eps, cudaStream_t stream,
                       const char* op) {
    if (n == 0 || d == 0) return;
    ENSURE(w_dtype == DType::F32 || w_dtype == dtype, "kernels::", op, ": gamma/beta ", dtype_name(w_dtype),
           " for data ", dtype_name(dtype));
    ENSURE(n < (int64_t(1) << 31), "kernels::", op, ": ", n, " rows exceed the grid");
    // Enough threads that each handles a handful of elements (OPT: d_model 768..12288).
    const int threads = d >= 4096 ? 1024 : d >= 1024 ? 512 : 256;
    dispatch_float(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        auto go = [&](auto w_tag) {
            using W = typename decltype(w_tag)::type;
            layer_norm_kernel<T, W, kAdd><<<unsigned(n), threads, 0, stream>>>(
                static_cast<T*>(y), static_cast<T*>(x), static_cast<const T*>(r), static_cast<const T*>(bias),
                static_cast<const W*>(gamma), static_cast<const W*>(beta), d, eps);
        };
        if (w_dtype == DType::F32) go(TypeTag<float>{});
        else go(tag);
    });
    LAUNCH_CHECK();
}

}  // namespace

void layer_norm(void* y, const void* x, const void* gamma, const void* beta, DType dtype, DType w_dtype, int64_t n,
                int64_t d, float eps, cudaStream_t stream) {
    // Without the add the kernel only reads x.
    launch_layer_norm<false>(y, const_cast<void*>(x), nullptr, nullptr, gamma, beta, dtype, w_dtype, n, d, eps,
                             stream, "layer_norm");
}

void add_residual_layer_norm(void* y, void* h, const void* r, const void* bias, const void* gamma, const void* beta,
                             DType dtype, DType w_dtype, int64_t n, int64_t d, float eps, cudaStream_t stream) {
    launch_layer_norm<true>(y, h, r, bias, gamma, beta, dtype, w_dtype, n, d, eps, stream, "add_residual_layer_norm");
}

}  // namespace ls::kernels
