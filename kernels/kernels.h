// Host launchers of the CUDA kernels: what cuBLAS does not do. Plain C++ (no CUDA types but cudaStream_t),
// so cuda_backend.cpp includes it without nvcc. Every launcher enqueues on `stream` and returns at once;
// launch errors throw ls::Error (LAUNCH_CHECK). `dtype` is that of the float data (F32, F16 or BF16); math is
// fp32 inside every kernel. Device pointers only; shapes in the comments, row-major.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace ls::kernels {

// --- elementwise.cu ---
void add(void* y, const void* x, DType dtype, int64_t n, cudaStream_t stream);  // y: [n] += x: [n]
// y: [n_rows, d] += bias: [d]; then max(·, 0) when `relu` (the FFN's fc1 epilogue in one pass).
void add_bias(void* y, const void* bias, DType dtype, int64_t n_rows, int64_t d, bool relu, cudaStream_t stream);
// y: [batch, >= n_rows (stride_rows), d]: y[b, :n_rows] += bias[b · d .. (b + 1) · d) (stacked q, k, v).
void add_bias_stacked(void* y, const void* bias, DType dtype, int64_t batch, int64_t n_rows, int64_t d,
                      int64_t stride_rows, cudaStream_t stream);
// h: [n_rows, d] += y: [n_rows, d] + bias: [d] (a row-parallel layer's output into the residual stream).
void add_residual(void* h, const void* y, const void* bias, DType dtype, int64_t n_rows, int64_t d,
                  cudaStream_t stream);
// y: [n] (y_dtype) = x: [n] (x_dtype), round to nearest even; any pair of F32, F16, BF16.
void convert(void* y, DType y_dtype, const void* x, DType x_dtype, int64_t n, cudaStream_t stream);

// --- gemv.cu ---
// y = x · wᵀ for a decode step of at most kGemvMaxRows rows, as CudaBackend::linear's cuBLAS call would give it
// (fp32 accumulation): x: [n, d_in]; w: `batch` weights [d_out, d_in] stacked ([batch · d_out, d_in]); y: row r
// of weight b at y + b · y_batch_stride + r · d_out (elements), d_out columns, in dtype or F32. gemv_fits says
// whether a product can take it (n ≤ kGemvMaxRows, rows of whole 16-byte vectors, 16-byte-aligned x and w).
constexpr int64_t kGemvMaxRows = 8;
bool gemv_fits(int64_t n, int64_t d_in, int elem_bytes, const void* x, const void* w);
void gemv(void* y, DType y_dtype, const void* x, const void* w, DType dtype, int64_t n, int64_t d_in, int64_t d_out,
          int64_t batch, int64_t y_batch_stride, cudaStream_t stream);

// --- embedding.cu ---
// y: [n, d] row i = table: [n_table_rows, d] row (ids[i] - row_begin) when that is in [0, n_table_rows), else
// zeros. ids: [n] int32. A negative row_begin shifts ids up (OPT's learned positions start at offset 2).
void embedding(void* y, const int32_t* ids, const void* table, DType dtype, int64_t n, int64_t d,
               int64_t row_begin, int64_t n_table_rows, cudaStream_t stream);
// y: [n, d] row i = x: [n_x_rows, d] row rows[i]; rows: [n] int32. A row outside [0, n_x_rows) gives zeros
// (the device cannot throw; the CPU backend raises instead).
void gather_rows(void* y, const void* x, const int32_t* rows, DType dtype, int64_t n, int64_t d, int64_t n_x_rows,
                 cudaStream_t stream);

// --- layer_norm.cu ---
// y: [n, d] = (x: [n, d] - mean) / sqrt(var + eps) · gamma: [d] + beta: [d]; statistics in fp32, two passes.
// gamma/beta are `w_dtype` (F32 or the same as dtype).
void layer_norm(void* y, const void* x, const void* gamma, const void* beta, DType dtype, DType w_dtype, int64_t n,
                int64_t d, float eps, cudaStream_t stream);
// h: [n, d] += r: [n, d] + bias: [d] (dtype), then y: [n, d] = layer_norm(h) as above, in one kernel: a
// row-parallel layer's epilogue and the next block's norm. y may be h (post-LN); the result is bitwise that
// of add_residual then layer_norm.
void add_residual_layer_norm(void* y, void* h, const void* r, const void* bias, const void* gamma, const void* beta,
                             DType dtype, DType w_dtype, int64_t n, int64_t d, float eps, cudaStream_t stream);

// --- paged_attention.cu ---
// k_cache, v_cache: [n_slots, d_row]; k, v: [n_tokens, d_row]; slot_mapping: [n_tokens] int32.
// A slot < 0 (padding rows of a CUDA-graph batch) or >= n_slots is skipped.
void write_kv(void* k_cache, void* v_cache, const void* k, const void* v, const int32_t* slot_mapping, DType dtype,
              int64_t n_tokens, int64_t d_row, int64_t n_slots, cudaStream_t stream);

struct PagedAttentionShape {
    int64_t n_tokens = 0;    // rows of q and out
    int64_t n_seqs = 0;      // query_start has n_seqs + 1 entries
    int64_t n_heads = 0;     // heads of this rank; d_row = n_heads · d_head
    int64_t d_head = 0;      // ≤ 256
    int64_t block_size = 16;
    int64_t max_blocks = 0;  // columns of block_tables
    int64_t n_slots = 0;     // rows of the caches: a slot outside them is skipped, never read
};
// out, q: [n_tokens, n_heads · d_head]; k_cache, v_cache: [n_slots, n_heads · d_head];
// query_start: [n_seqs + 1]; positions: [n_tokens]; block_tables: [n_seqs, max_blocks]; all int32.
// Token t of sequence s attends to positions 0..positions[t] of s, position j at slot
// block_tables[s][j / block_size] · block_size + j % block_size. Rows outside [query_start[0],
// query_start[n_seqs]) (graph padding) are left as they are. A batch of one query per sequence
// (n_tokens == n_seqs) takes the decode kernel (one block per (sequence, head) and range of its context, warps
// splitting that range); any other the prefill kernel (one warp per (token, head)). Both are correct for any
// batch. A decode context of n keys is cut into min(splits.max, ceil(n / splits.min_keys)) ranges; more than
// one needs `partials` (decode_partials_floats(shape, splits.max) device floats, scratch) and a second kernel
// combines them.
constexpr int kMaxDecodeSplits = 32;
struct DecodeSplits {
    int max = 1;           // ranges of one context at most: the launch's third grid dimension
    int64_t min_keys = 1;  // keys per range at least (fewer ranges for a shorter context)
};
void paged_attention(void* out, const void* q, const void* k_cache, const void* v_cache, const int32_t* query_start,
                     const int32_t* positions, const int32_t* block_tables, DType dtype,
                     const PagedAttentionShape& shape, float scale, DecodeSplits splits, float* partials,
                     cudaStream_t stream);
// The splits for a GPU of n_sm SMs: none for a batch that is not decode, or that already has two (sequence,
// head) blocks per SM, or whose tables hold at most 512 keys; else enough for two blocks per SM, at most one
// per 512 keys the tables hold and kMaxDecodeSplits, and each context cut by its own length (512 keys a range).
// Depends on the shape only, not the positions, so a captured graph keeps a valid choice. forced > 0: a decode
// batch's contexts are cut into that many ranges whatever their length (LOCKSTEP_DECODE_SPLITS).
DecodeSplits decode_splits(const PagedAttentionShape& shape, int n_sm, int forced = 0);
int64_t decode_partials_floats(const PagedAttentionShape& shape, int max_splits);  // 0 when max_splits == 1
// The decode kernel's vector path: a head row of G 16-byte vectors, G a power of two ≤ 32, and 16-byte-aligned
// caches give G (G lanes read one key, a vector each); anything else 0, the scalar path.
int decode_vectors(int64_t d_head, int elem_bytes, const void* k_cache, const void* v_cache);

// --- sampling.cu ---
// Greedy sampling on the device. For each of n_rows rows of logits (row stride `stride`, columns [0, n_cols)):
// out = the index of its largest value (the first on ties, as std::max_element; NaNs are never chosen: a row
// of -inf gives its first -inf column, an all-NaN row 0), out_val = that value, or NaN when the row holds a
// NaN or +inf.
void argmax_rows(int32_t* out, float* out_val, const void* logits, DType dtype, int64_t n_rows, int64_t n_cols,
                 int64_t stride, cudaStream_t stream);

}  // namespace ls::kernels
