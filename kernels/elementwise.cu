// Elementwise kernels: add, bias (+ relu; also over stacked q, k, v), bias + residual, dtype conversion.
// Memory-bound one-pass loops; fp32 math.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void add_kernel(T* y, const T* x, int64_t n) {  // y, x: [n]
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] = from_f32<T>(to_f32(y[i]) + to_f32(x[i]));
}

// y: `batch` blocks of `block` elements (rows of d), `stride` elements apart; bias: [batch, d].
template <class T, bool kRelu>
__global__ void add_bias_kernel(T* y, const T* bias, int64_t n, int64_t d, int64_t block, int64_t stride) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t b = i / block, r = i % block;
        T* p = y + b * stride + r;
        const float v = to_f32(*p) + to_f32(bias[b * d + r % d]);
        *p = from_f32<T>(kRelu ? fmaxf(v, 0.0f) : v);
    }
}

template <class T>
__global__ void add_residual_kernel(T* h, const T* y, const T* bias, int64_t n, int64_t d) {  // h, y: [n / d, d]
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        h[i] = from_f32<T>(to_f32(h[i]) + (to_f32(y[i]) + to_f32(bias[i % d])));
}

template <class To, class From>
__global__ void convert_kernel(To* y, const From* x, int64_t n) {  // y, x: [n]
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] = from_f32<To>(to_f32(x[i]));
}

void launch_add_bias(void* y, const void* bias, DType dtype, int64_t batch, int64_t n_rows, int64_t d,
                     int64_t stride_rows, bool relu, cudaStream_t stream) {
    const int64_t block = n_rows * d, n = batch * block;
    if (n == 0) return;
    dispatch_float(dtype, "add_bias", [&](auto tag) {
        using T = typename decltype(tag)::type;
        auto* yt = static_cast<T*>(y);
        auto* bt = static_cast<const T*>(bias);
        if (relu)
            add_bias_kernel<T, true><<<grid_for(n, kThreads), kThreads, 0, stream>>>(yt, bt, n, d, block,
                                                                                     stride_rows * d);
        else
            add_bias_kernel<T, false><<<grid_for(n, kThreads), kThreads, 0, stream>>>(yt, bt, n, d, block,
                                                                                      stride_rows * d);
    });
    LAUNCH_CHECK();
}

}  // namespace

void add(void* y, const void* x, DType dtype, int64_t n, cudaStream_t stream) {
    if (n == 0) return;
    dispatch_float(dtype, "add", [&](auto tag) {
        using T = typename decltype(tag)::type;
        add_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(y), static_cast<const T*>(x),
                                                                      n);
    });
    LAUNCH_CHECK();
}

void add_bias(void* y, const void* bias, DType dtype, int64_t n_rows, int64_t d, bool relu, cudaStream_t stream) {
    launch_add_bias(y, bias, dtype, 1, n_rows, d, n_rows, relu, stream);
}

void add_bias_stacked(void* y, const void* bias, DType dtype, int64_t batch, int64_t n_rows, int64_t d,
                      int64_t stride_rows, cudaStream_t stream) {
    launch_add_bias(y, bias, dtype, batch, n_rows, d, stride_rows, false, stream);
}

void add_residual(void* h, const void* y, const void* bias, DType dtype, int64_t n_rows, int64_t d,
                  cudaStream_t stream) {
    const int64_t n = n_rows * d;
    if (n == 0) return;
    dispatch_float(dtype, "add_residual", [&](auto tag) {
        using T = typename decltype(tag)::type;
        add_residual_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
            static_cast<T*>(h), static_cast<const T*>(y), static_cast<const T*>(bias), n, d);
    });
    LAUNCH_CHECK();
}

void convert(void* y, DType y_dtype, const void* x, DType x_dtype, int64_t n, cudaStream_t stream) {
    if (n == 0) return;
    dispatch_float(y_dtype, "convert", [&](auto to_tag) {
        using To = typename decltype(to_tag)::type;
        dispatch_float(x_dtype, "convert", [&](auto from_tag) {
            using From = typename decltype(from_tag)::type;
            convert_kernel<To, From><<<grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<To*>(y),
                                                                                     static_cast<const From*>(x), n);
        });
    });
    LAUNCH_CHECK();
}

}  // namespace ls::kernels
