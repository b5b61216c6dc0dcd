// The CPU backend: fp32 math, GEMMs through OpenBLAS, the rest as plain loops. It is the numerical reference
// the CUDA backend is tested against, and what runs on machines without a GPU. Weights are fp32, or stored in
// fp16/bf16 (--dtype float16|bfloat16: half the memory and the bytes a decode step reads) and widened to fp32
// where an op reads them; activations and the KV cache stay fp32.
#pragma once
#include "backend/backend.h"
#include "backend/worker_pool.h"

namespace ls {

class CpuBackend final : public Backend {
public:
    CpuBackend(int n_threads, double total_memory, DType weight_dtype = DType::F32);
    std::string name() const override;
    DType compute_dtype() const override { return DType::F32; }
    DType weight_dtype() const override { return weight_dtype_; }
    bool host_memory() const override { return true; }
    double total_memory() const override { return total_memory_; }
    MemoryUsage memory_usage() const override { return usage_; }
    void reset_peak() override { usage_.peak = usage_.allocated; }

    Buffer alloc(DType dtype, std::initializer_list<int64_t> shape) override;
    void copy_from_host(const Tensor& dst, const void* src) override;
    void copy_to_host(void* dst, const Tensor& src) override;
    void synchronize() override {}
    std::unique_ptr<Stopwatch> make_stopwatch() override;

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

private:
    int n_threads_;
    WorkerPool pool_;  // attention's threads; OpenBLAS has its own
    double total_memory_;
    DType weight_dtype_;
    MemoryUsage usage_;
    Buffer panel_;  // fp32 scratch the 16-bit weights of a large linear are widened into (cpu_linear16.h)
};

}  // namespace ls
