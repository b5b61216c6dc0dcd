// A decode step's linear layers at a few rows: y[r, o] = Σ_k x[r, k] · w[o, k], r < n ≤ kGemvMaxRows, fp32
// accumulation. At batch 1 such a product reads each weight once for two flops: it is a read of the weights,
// and cuBLAS's GEMM kernels ran opt-1.3b's at 0.9 to 2.2 TB/s of an H200's 4.1 (results/bench-gpu). Here a warp
// takes one row of w (one output column): its lanes read the row in 16-byte vectors, kGemvUnroll of them in
// flight, and multiply each into the n rows of x, which every warp re-reads (a few KiB, from the L1 cache);
// then one warp reduction per row of x. The sum's order depends on d_in only, not on n, so a sequence's row
// comes out the same whichever other rows share its step.
#include "common.cuh"
#include "kernels.h"

namespace ls::kernels {
namespace {

constexpr int kGemvWarps = 8;   // rows of w per block
constexpr int kGemvUnroll = 4;  // 16-byte loads of w in flight per lane

// w: [batch · d_out, d_in] (batch weights stacked); x: [n, d_in]; y: row r of batch b at
// y + b · y_batch_stride + r · ldy, d_out columns. N: rows of x at most (n ≤ N), so acc stays in registers.
template <class T, class Y, int N>
__global__ void gemv_kernel(Y* y, const T* x, const T* w, int n, int64_t d_in, int64_t d_out, int64_t rows,
                            int64_t y_batch_stride, int64_t ldy) {
    constexpr int V = kVec<T>;
    const int lane = threadIdx.x % kWarp;
    const int64_t row = int64_t(blockIdx.x) * kGemvWarps + threadIdx.x / kWarp;
    if (row >= rows) return;  // the whole warp
    const int64_t n_vec = d_in / V;
    const T* wr = w + row * d_in;
    float acc[N] = {};
    auto fma_vec = [&](const uint4& wv, int64_t v) {
        float wf[V];
        widen<T>(wv, wf);
#pragma unroll
        for (int r = 0; r < N; r++) {
            if (r >= n) break;  // uniform
            float xf[V];
            widen<T>(load16(x + r * d_in + v * V), xf);
#pragma unroll
            for (int e = 0; e < V; e++) acc[r] += wf[e] * xf[e];
        }
    };
    int64_t v = lane;
    for (; v + (kGemvUnroll - 1) * kWarp < n_vec; v += kGemvUnroll * kWarp) {
        uint4 wv[kGemvUnroll];
#pragma unroll
        for (int u = 0; u < kGemvUnroll; u++) wv[u] = load16(wr + (v + u * kWarp) * V);
#pragma unroll
        for (int u = 0; u < kGemvUnroll; u++) fma_vec(wv[u], v + u * kWarp);
    }
    for (; v < n_vec; v += kWarp) fma_vec(load16(wr + v * V), v);
    const int64_t b = row / d_out, o = row % d_out;
#pragma unroll
    for (int r = 0; r < N; r++) {
        if (r >= n) break;
        const float sum = warp_sum(acc[r]);
        if (lane == 0) y[b * y_batch_stride + r * ldy + o] = from_f32<Y>(sum);
    }
}

template <class T, class Y>
void launch_gemv(Y* y, const T* x, const T* w, int n, int64_t d_in, int64_t d_out, int64_t batch,
                 int64_t y_batch_stride, cudaStream_t stream) {
    const int64_t rows = batch * d_out;
    const unsigned grid = unsigned(ceil_div(rows, kGemvWarps));
    const auto go = [&](auto kernel) {
        kernel<<<grid, kGemvWarps * kWarp, 0, stream>>>(y, x, w, n, d_in, d_out, rows, y_batch_stride, d_out);
    };
    if (n == 1) go(gemv_kernel<T, Y, 1>);
    else if (n == 2) go(gemv_kernel<T, Y, 2>);
    else if (n <= 4) go(gemv_kernel<T, Y, 4>);
    else go(gemv_kernel<T, Y, kGemvMaxRows>);
}

}  // namespace

bool gemv_fits(int64_t n, int64_t d_in, int elem_bytes, const void* x, const void* w) {
    return n >= 1 && n <= kGemvMaxRows && (d_in * elem_bytes) % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
           reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

void gemv(void* y, DType y_dtype, const void* x, const void* w, DType dtype, int64_t n, int64_t d_in, int64_t d_out,
          int64_t batch, int64_t y_batch_stride, cudaStream_t stream) {
    if (n == 0 || d_out == 0 || batch == 0) return;
    ENSURE(gemv_fits(n, d_in, int(dtype_size(dtype)), x, w), "kernels::gemv: ", n, " rows of ", d_in, " ",
           dtype_name(dtype), " (1..", kGemvMaxRows, " rows of 16-byte-aligned vectors)");
    ENSURE(y_dtype == dtype || y_dtype == DType::F32, "kernels::gemv: output ", dtype_name(y_dtype), " for ",
           dtype_name(dtype), " input");
    ENSURE(d_out * batch < int64_t(kGemvWarps) * 0x7fffffff, "kernels::gemv: ", batch * d_out, " rows");
    dispatch_float(dtype, "gemv", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const auto* xt = static_cast<const T*>(x);
        const auto* wt = static_cast<const T*>(w);
        if (y_dtype == DType::F32)
            launch_gemv(static_cast<float*>(y), xt, wt, int(n), d_in, d_out, batch, y_batch_stride, stream);
        else
            launch_gemv(static_cast<T*>(y), xt, wt, int(n), d_in, d_out, batch, y_batch_stride, stream);
    });
    LAUNCH_CHECK();
}

}  // namespace ls::kernels
