// Linear layers whose weights the CPU backend stores in 16 bits (--dtype float16 or bfloat16 on the CPU): a
// weight is read from memory as fp16/bf16, half the bytes of fp32, and widened to fp32 in cache; the products
// and sums are fp32, as in the fp32 engine. Decode reads every weight once per token, so its time is mostly
// those bytes.
#pragma once
#include <cstdint>

#include "backend/worker_pool.h"
#include "core/tensor.h"

namespace ls {

// Up to this many rows of x, linear_w16 computes the dot products itself, one weight row at a time, on the
// backend's threads (decode of a few sequences). Above it, weights are widened a panel of rows at a time and
// the panel goes to OpenBLAS's sgemm (prefill, large decode batches). At 8 rows of opt-125m's fc1 the direct
// path took 55% (fp16) and 28% (bf16) of fp32 sgemm's time, which packs the whole weight each call
// (build/cpu_linear_bench, results/cpu-weights16).
constexpr int64_t kW16DirectRows = 8;
// With AVX2, FMA and F16C the direct path takes up to this many rows, 8 at a time over 64 KiB chunks of weight
// rows. On opt-125m's fc1 with 2 threads, 9 to 32 rows took 300-900 us there, against 2800-3400 in panels and
// 630-1050 in fp32 sgemm; at 64 rows on one thread the panels were faster (3.6 ms against 4.9).
constexpr int64_t kW16BlockedRows = 32;

// fp32 elements of the panel that the sgemm path widens weights of d_in columns into: 4 MiB, or 16 rows when a
// row alone is larger. The CPU backend allocates it (so the KV sizing's profiling pass counts it).
int64_t w16_panel_floats(int64_t d_in);

// Tests: true runs the direct path as on a CPU without AVX2, FMA or F16C, which this one may have.
void w16_force_portable(bool on);

// y[n, d_out] = x[n, d_in] · w[d_out, d_in]ᵀ, w in F16 or BF16, x and y fp32. panel: room for
// w16_panel_floats(d_in) floats (unused when n <= kW16DirectRows).
void linear_w16(const Tensor& y, const Tensor& x, const Tensor& w, float* panel, WorkerPool& pool);

}  // namespace ls
