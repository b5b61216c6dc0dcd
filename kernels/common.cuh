// Shared device helpers of kernels/*.cu: fp32 loads and stores of F32/F16/BF16, the DType → C++ type dispatch,
// warp and block reductions, and grid sizing.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda_check.h"
#include "core/dtype.h"

namespace ls::kernels {

constexpr int kWarp = 32;

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <class T>
struct TypeTag {
    using type = T;
};

// Calls f(TypeTag<T>{}) with the C++ type of a float DType: one switch instead of one per launcher.
template <class F>
void dispatch_float(DType dtype, const char* op, F&& f) {
    switch (dtype) {
        case DType::F32: f(TypeTag<float>{}); break;
        case DType::F16: f(TypeTag<__half>{}); break;
        case DType::BF16: f(TypeTag<__nv_bfloat16>{}); break;
        default: ::ls::raise("kernels::", op, ": unsupported dtype ", dtype_name(dtype));
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block, returned to every thread. `scratch` holds kWarp floats; the leading
// __syncthreads makes back-to-back calls with the same scratch safe.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = (blockDim.x + kWarp - 1) / kWarp;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < n_warps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

// Grid for a grid-stride loop over n items: enough blocks to fill the GPU, never more than the items need.
inline unsigned grid_for(int64_t n, int threads) {
    const int64_t blocks = ceil_div(n, threads);
    return unsigned(blocks < 65536 ? blocks : 65536);
}

}  // namespace ls::kernels
