// The CUDA backend: one device, one non-blocking stream that every op (and the NCCL communicator) enqueues on,
// GEMMs through cuBLAS, the rest through kernels/. Weights and activations in cfg.dtype, math in fp32.
// Compiled only in a CUDA build; nothing outside backend/ and comm/nccl_* includes this header.
#pragma once
#include <algorithm>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"

struct cublasContext;  // cublasHandle_t without pulling cuBLAS into every includer

namespace ls {

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(const BackendConfig& cfg);  // cfg.cuda_device must exist (make_cuda_backend checks)
    ~CudaBackend() override;
    CudaBackend(const CudaBackend&) = delete;
    CudaBackend& operator=(const CudaBackend&) = delete;

    std::string name() const override { return name_; }  // "cuda:N (<device name>, <pci bus id>)"
    DType compute_dtype() const override { return dtype_; }
    double total_memory() const override { return total_memory_; }
    MemoryUsage memory_usage() const override { return usage_; }
    void reset_peak() override { usage_.peak = usage_.allocated; }

    // Zero-filled (cudaMemsetAsync on the stream), from the caching allocator: see "Memory" in cuda_backend.cpp.
    // During capture it is served only from cached blocks (no cudaMalloc). Buffers must die before the backend.
    Buffer alloc(DType dtype, std::initializer_list<int64_t> shape) override;
    // Returns once `src` may be reused: see the comment at its definition. Not during capture.
    void copy_from_host(const Tensor& dst, const void* src) override;
    void copy_to_host(void* dst, const Tensor& src) override;  // waits for the stream; not during capture
    void synchronize() override;
    std::unique_ptr<Stopwatch> make_stopwatch() override;  // two events on the stream; not during capture

    void linear(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias) override;
    void linear_stacked(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias) override;
    void layer_norm(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override;
    void add(const Tensor& y, const Tensor& x) override;
    void add_bias(const Tensor& y, const Tensor& bias) override;
    void add_bias_relu(const Tensor& y, const Tensor& bias) override;
    void add_residual(const Tensor& h, const Tensor& y, const Tensor& bias) override;
    void add_residual_layer_norm(const Tensor& out, const Tensor& h, const Tensor& y, const Tensor& bias,
                                 const Tensor& gamma, const Tensor& beta, float eps) override;
    void embedding(const Tensor& y, const Tensor& ids, const Tensor& table, int64_t row_begin) override;
    void gather_rows(const Tensor& y, const Tensor& x, const Tensor& rows) override;
    void argmax_rows(const Tensor& idx, const Tensor& val, const Tensor& x, int64_t n_cols) override;
    void write_kv(const Tensor& k_cache, const Tensor& v_cache, const Tensor& k, const Tensor& v,
                  const Tensor& slot_mapping) override;
    void attention(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                   const AttentionInputs& in, int n_heads_local, float scale) override;
    void convert(const Tensor& y, const Tensor& x) override;

    bool supports_graphs() const override { return true; }
    void begin_capture() override;
    int end_capture() override;
    void replay(int id) override;
    void release_graphs() override;  // abandons a capture a failure left open, too
    std::string device_bus_id() const override { return bus_id_; }

    cudaStream_t stream() const { return stream_; }  // the NCCL communicator enqueues its collectives here
    int device() const { return device_; }
    int64_t device_used_bytes() const override;
    int64_t alloc_bytes(int64_t bytes) const override;
    int64_t cached_bytes() const { return cached_bytes_; }  // in free lists: reserved, not handed out
    int64_t memory_used_elsewhere() const override {
        return std::max<int64_t>(0, device_used_bytes() - usage_.allocated - cached_bytes_);
    }
    void empty_cache() override;  // cudaFree the eager free list (never during capture)

private:
    void init(const BackendConfig& cfg);
    void destroy() noexcept;
    void* take_block(size_t bytes, size_t* block_bytes);
    void release_block(void* p);
    Buffer alloc_uninit(Tensor t);  // alloc() without zeroing: t's shape, on a block of ours
    void* take_from(std::multimap<size_t, void*>& pool, size_t bytes, size_t* block_bytes);
    void abandon_capture() noexcept;  // ends a capture in progress and discards its graph
    void add_bias_rows(const Tensor& y, const Tensor& bias, bool relu, const char* op);
    bool use_gemv(const Tensor& x, const Tensor& w) const;  // y = x·wᵀ by kernels::gemv rather than cuBLAS
    void drop_graphs() noexcept;      // abandon_capture(), then destroys every graph without waiting for it

    int device_ = 0;
    int n_sm_ = 1;            // streaming multiprocessors: how many blocks a decode's attention wants
    int decode_splits_ = 0;   // LOCKSTEP_DECODE_SPLITS, or 0: kernels::decode_splits chooses
    int64_t gemv_rows_ = 1;   // steps of at most this many rows multiply in kernels::gemv (LOCKSTEP_GEMV)
    DType dtype_ = DType::F32;
    bool allow_tf32_ = false;
    std::string name_;
    std::string bus_id_;
    double total_memory_ = 0;
    cudaStream_t stream_ = nullptr;
    cublasContext* cublas_ = nullptr;
    void* cublas_workspace_ = nullptr;

    struct Block {
        size_t bytes = 0;
        bool graph_owned = false;  // touched by a capture: back to graph_free_, never to the eager list
    };
    std::unordered_map<void*, Block> live_;       // handed out
    std::multimap<size_t, void*> free_;           // eager free list, by block size
    std::multimap<size_t, void*> graph_free_;     // blocks a graph may use: only captures draw from these
    MemoryUsage usage_;
    int64_t cached_bytes_ = 0;

    // copy_from_host stages through these pinned buffers (double-buffered: filling one while the other's DMA
    // runs); staged_[i] marks when buffer i's last copy has left it.
    void* staging_[2] = {nullptr, nullptr};
    cudaEvent_t staged_[2] = {nullptr, nullptr};
    int next_staging_ = 0;

    bool capturing_ = false;
    std::vector<cudaGraphExec_t> graphs_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the abort cleanup's: false once destroyed
};

}  // namespace ls
