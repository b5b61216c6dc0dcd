// Backend: memory and math of one rank, behind one narrow interface. The CPU backend (fp32, OpenBLAS) is the
// numerical reference and the GPU-less path; the CUDA backend implements the same ops with cuBLAS and
// kernels/. Model code calls only these ops, so it never knows which device it runs on.
#pragma once
#include <algorithm>
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

// Times the ops issued between start() and stop() on the device's own clock (--profile-ops): CUDA events on
// the stream, so a GPU op is timed as the GPU ran it, not as the host launched it; the CPU backend's ops are
// synchronous, so there it is the wall clock. seconds() is for a stopwatch that is done(); it waits otherwise.
class Stopwatch {
public:
    virtual ~Stopwatch() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    virtual bool done() = 0;
    virtual double seconds() = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;         // "cpu", "cuda:0 (NVIDIA H100 ...)"
    virtual DType compute_dtype() const = 0;      // dtype of activations and the KV cache on this backend
    // dtype the weights are stored in: the compute dtype, but on the CPU backend, which may keep them in 16 bits
    // and compute in fp32. The model loads its weights in it (parallel/shard_loader.cpp).
    virtual DType weight_dtype() const { return compute_dtype(); }
    virtual bool host_memory() const { return false; }  // alloc() memory is the host's (MPI can use it directly)
    virtual double total_memory() const = 0;      // bytes of the device (the CPU backend: its host budget)
    virtual MemoryUsage memory_usage() const = 0;
    virtual void reset_peak() = 0;
    // Device bytes in use that alloc() did not hand out: the CUDA context, cuBLAS workspaces, NCCL buffers,
    // other processes on the GPU (vLLM's "non-torch memory"); the KV budget leaves them out. CPU: 0.
    virtual int64_t memory_used_elsewhere() const { return 0; }
    // Bytes in use on the whole device, by every process and context (cudaMemGetInfo total − free: what
    // nvidia-smi shows). CPU: what alloc() handed out.
    virtual int64_t device_used_bytes() const { return memory_usage().allocated; }
    // What alloc() of `bytes` takes from the device: the CUDA allocator's blocks are multiples of 512 B or
    // 2 MiB; the CPU backend's calloc counts at least a byte. KV sizing fits the cache as it is allocated.
    virtual int64_t alloc_bytes(int64_t bytes) const { return std::max<int64_t>(bytes, 1); }
    // Gives memory kept for reuse back to the device (torch.cuda.empty_cache): after the KV sizing's
    // profiling pass, whose scratch cache nothing reuses. CPU: nothing is kept.
    virtual void empty_cache() {}
    // The PCI bus id of the GPU this rank computes on ("" on the CPU): ranks of one host with the same id share
    // a device, whatever CUDA_VISIBLE_DEVICES numbered it.
    virtual std::string device_bus_id() const { return ""; }

    virtual Buffer alloc(DType dtype, std::initializer_list<int64_t> shape) = 0;  // zero-filled, counted
    virtual void copy_from_host(const Tensor& dst, const void* src) = 0;          // dst.nbytes() bytes
    virtual void copy_to_host(void* dst, const Tensor& src) = 0;
    virtual void synchronize() = 0;
    virtual std::unique_ptr<Stopwatch> make_stopwatch() = 0;

    // y[n, d_out] = x[n, d_in] · w[d_out, d_in]ᵀ (+ bias[d_out]): nn.Linear's layout.
    virtual void linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) = 0;
    // Linears of one input whose weights are stacked (q, k and v): y[b, :n] = x · w_bᵀ + bias_b, w_b the b-th
    // block of d_out rows; one batched GEMM on a GPU. x: [n, d_in]; w: [batch · d_out, d_in];
    // bias: [batch · d_out]; y: [batch, >= n, d_out].
    virtual void linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) = 0;
    // y[n, d] = (x - mean) / sqrt(var + eps) · gamma + beta, per row.
    virtual void layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            float eps) = 0;
    virtual void add(const Tensor& y, const Tensor& x) = 0;              // y += x, same shape
    virtual void add_bias(const Tensor& y, const Tensor& bias) = 0;      // y[n, d] += bias[d]
    // The epilogues of an OPT layer's GEMMs, each one pass over the activations (one kernel on a GPU):
    virtual void add_bias_relu(const Tensor& y, const Tensor& bias) = 0;  // y[n, d] = max(y + bias[d], 0): fc1
    // h[n, d] += y[n, d] + bias[d]: a row-parallel layer's reduced output into the residual stream
    virtual void add_residual(const Tensor& h, const Tensor& y, const Tensor& bias) = 0;
    // add_residual, then out[n, d] = layer_norm(h) (out may be h), in one pass: a row-parallel layer's epilogue
    // and the norm of the block that follows it. Exactly the two ops' result.
    virtual void add_residual_layer_norm(const Tensor& out, const Tensor& h, const Tensor& y, const Tensor& bias,
                                         const Tensor& gamma, const Tensor& beta, float eps) = 0;
    // y[n, d] = table[ids[i] - row_begin] when row_begin <= ids[i] < row_begin + table.rows, else 0:
    // the masked lookup of a vocab-parallel embedding (the all-reduce afterwards fills the zeros).
    virtual void embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) = 0;
    virtual void gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) = 0;  // y[i] = x[rows[i]]
    // k_cache/v_cache: [n_slots, n_heads_local · d_head]; k, v: [n_tokens, n_heads_local · d_head]. A slot of
    // -1 writes nothing: the padding rows of a CUDA graph's batch (engine/decode_graphs.h).
    virtual void write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                          const Tensor& slot_mapping) = 0;
    // out, q: [n_tokens, n_heads_local · d_head]; causal softmax(q·kᵀ · scale)·v over each token's context.
    virtual void attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           const AttentionInputs& in, int n_heads_local, float scale) = 0;
    // y = x converted elementwise to y's dtype (F32, F16, BF16), same element count: the LM head hands fp32
    // logits to the sampler whatever the compute dtype.
    virtual void convert(const Tensor& y, const Tensor& x) = 0;
    // Greedy sampling where the logits are, so that a row's token id crosses to the host, not its logits.
    // x: [rows, >= n_cols] F32; per row, over columns [0, n_cols): idx [rows] I32 = the first index of the
    // maximum, val [rows] F32 = the maximum, or NaN when the row holds a NaN or +inf (a broken forward pass,
    // which the sampler refuses). A row of -inf gives index 0 and -inf.
    virtual void argmax_rows(const Tensor& idx, const Tensor& val, const Tensor& x, int64_t n_cols) = 0;

    // CUDA graphs: the ops issued between begin_capture() and end_capture() are recorded instead of run, and
    // replay(id) runs them again on the same buffers, with one launch instead of hundreds. Backends without
    // graphs say so in supports_graphs() and the caller runs the ops eagerly.
    virtual bool supports_graphs() const { return false; }
    virtual void begin_capture() { raise(name(), ": no graph capture"); }
    virtual int end_capture() { raise(name(), ": no graph capture"); }  // → id for replay()
    virtual void replay(int id) { raise(name(), ": no graph replay"); }
    // Destroys every captured graph (ids become invalid): before the communicators their NCCL calls reference.
    virtual void release_graphs() {}
};

struct BackendConfig {
    std::string device = "cpu";  // "cpu" or "cuda" ("auto" is resolved before: resolve_device())
    int n_cpu_threads = 1;       // BLAS threads of this rank
    double cpu_memory = 0;       // the CPU backend's device memory in bytes
    int cuda_device = 0;         // CUDA device index: the rank's local rank (rank among this host's ranks)
    // CUDA: weights and activations in F32, F16 or BF16 (accumulation in fp32). CPU: the weights' storage (the
    // math is fp32).
    DType dtype = DType::F32;
    bool allow_tf32 = false;     // CUDA, F32 only: TF32 tensor-core GEMMs (off: bitwise-faithful fp32 math)
};

std::unique_ptr<Backend> make_backend(const BackendConfig& cfg);  // throws ls::Error naming --device

// A buffer reused across steps: reallocated only when a step needs more rows than it has held so far (the
// profiling pass, the first large steps), so the step loop allocates nothing and CUDA graphs see fixed
// addresses. Returns the view [rows, cols].
Tensor reuse_buffer(Backend& be, Buffer& b, DType dtype, int64_t rows, int64_t cols);

// CUDA devices this process can use: 0 in a build without CUDA and on machines without a driver or GPU, with
// the reason in *why (cudaGetDeviceCount's error).
int cuda_device_count(std::string* why = nullptr);
std::unique_ptr<Backend> make_cuda_backend(const BackendConfig& cfg);  // cuda_backend.cpp or nocuda_backend.cpp
// --device auto|cpu|cuda → "cpu" or "cuda": auto takes cuda when a GPU is visible; cuda without one throws.
std::string resolve_device(const std::string& flag);

}  // namespace ls
