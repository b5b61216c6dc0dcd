// Backend: memory and math of one rank, behind one narrow interface. The CPU backend (fp32, OpenBLAS) is the
// numerical reference and the GPU-less path; the CUDA backend implements the same ops with cuBLAS and
// kernels/. Model code calls only these ops, so it never knows which device it runs on.
#pragma once
#include <memory>
#include <string>

#include "core/tensor.h"

namespace ls {

// Where each token of a step's batch reads and writes K/V (the step plan's attention part, on the device).
// Tokens of one sequence are contiguous rows; token t of sequence s at position p attends to positions
// 0..p of s, found through s's block table: position j lives in slot block_table[s][j / bs] * bs + j % bs.
struct AttentionInputs {
    Tensor query_start;   // [n_seqs + 1] int32: rows of sequence s are [query_start[s], query_start[s+1])
    Tensor positions;     // [n_tokens] int32: position of each token in its sequence
    Tensor block_tables;  // [n_seqs, max_blocks_per_seq] int32
    int block_size = 16;
};

// Bytes this backend has handed out through alloc(): now, and the most at once since reset_peak().
struct MemoryUsage {
    int64_t allocated = 0;
    int64_t peak = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;         // "cpu", "cuda:0 (NVIDIA H100 ...)"
    virtual DType compute_dtype() const = 0;      // dtype of weights and activations on this backend
    virtual double total_memory() const = 0;      // bytes of the device (the CPU backend: its host budget)
    virtual MemoryUsage memory_usage() const = 0;
    virtual void reset_peak() = 0;

    virtual Buffer alloc(DType dtype, std::initializer_list<int64_t> shape) = 0;  // zero-filled, counted
    virtual void copy_from_host(const Tensor& dst, const void* src) = 0;          // dst.nbytes() bytes
    virtual void copy_to_host(void* dst, const Tensor& src) = 0;
    virtual void synchronize() = 0;

    // y[n, d_out] = x[n, d_in] · w[d_out, d_in]ᵀ (+ bias[d_out]): nn.Linear's layout.
    virtual void linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) = 0;
    // y[n, d] = (x - mean) / sqrt(var + eps) · gamma + beta, per row.
    virtual void layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            float eps) = 0;
    virtual void relu(const Tensor& x) = 0;                              // in place
    virtual void add(const Tensor& y, const Tensor& x) = 0;              // y += x, same shape
    virtual void add_bias(const Tensor& y, const Tensor& bias) = 0;      // y[n, d] += bias[d]
    // y[n, d] = table[ids[i] - row_begin] when row_begin <= ids[i] < row_begin + table.rows, else 0:
    // the masked lookup of a vocab-parallel embedding (the all-reduce afterwards fills the zeros).
    virtual void embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) = 0;
    virtual void gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) = 0;  // y[i] = x[rows[i]]
    // k_cache/v_cache: [n_slots, n_heads_local · d_head]; k, v: [n_tokens, n_heads_local · d_head].
    virtual void write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                          const Tensor& slot_mapping) = 0;
    // out, q: [n_tokens, n_heads_local · d_head]; causal softmax(q·kᵀ · scale)·v over each token's context.
    virtual void attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           const AttentionInputs& in, int n_heads_local, float scale) = 0;
};

struct BackendConfig {
    std::string device = "cpu";  // "cpu", or "cuda" when built with CUDA and a GPU is visible
    int n_cpu_threads = 1;       // BLAS threads of this rank
    double cpu_memory = 0;       // the CPU backend's device memory in bytes
};

std::unique_ptr<Backend> make_backend(const BackendConfig& cfg);  // throws ls::Error naming --device

}  // namespace ls
