// Shared device helpers of kernels/*.cu: fp32 loads and stores of F32/F16/BF16, the DType → C++ type dispatch,
// warp and block reductions, and grid sizing.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

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

// 16-byte loads: kVec<T> elements at once (a head's K/V row in decode, a weight row in gemv), widened to fp32.
// The pointer must be 16-byte aligned.
template <class T>
constexpr int kVec = 16 / int(sizeof(T));  // elements of one 16-byte load

template <class To, class From>
__device__ __forceinline__ To bits_as(const From& x) {
    static_assert(sizeof(To) == sizeof(From), "bits_as: same size");
#ifdef __CUDACC__
    return *reinterpret_cast<const To*>(&x);
#else  // the CPU emulation: g++'s aliasing rules
    To t;
    memcpy(static_cast<void*>(&t), &x, sizeof(To));
    return t;
#endif
}

template <class T>
__device__ __forceinline__ uint4 load16(const T* p) {
#ifdef __CUDACC__
    return *reinterpret_cast<const uint4*>(p);
#else
    uint4 v;
    memcpy(&v, p, sizeof v);
    return v;
#endif
}

template <class T>
__device__ __forceinline__ void widen(const uint4& v, float (&f)[kVec<T>]) {
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if constexpr (std::is_same_v<T, float>) {
            f[i] = bits_as<float>(w[i]);
        } else if constexpr (std::is_same_v<T, __half>) {
            const float2 x = __half22float2(bits_as<__half2>(w[i]));
            f[2 * i] = x.x;
            f[2 * i + 1] = x.y;
        } else {
            const float2 x = __bfloat1622float2(bits_as<__nv_bfloat162>(w[i]));
            f[2 * i] = x.x;
            f[2 * i + 1] = x.y;
        }
    }
}

// Grid for a grid-stride loop over n items: enough blocks to fill the GPU, never more than the items need.
inline unsigned grid_for(int64_t n, int threads) {
    const int64_t blocks = ceil_div(n, threads);
    return unsigned(blocks < 65536 ? blocks : 65536);
}

}  // namespace ls::kernels
