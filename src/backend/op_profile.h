// --profile-ops: where a rank's forward time goes, op by op. ProfilingBackend wraps the rank's backend and
// brackets every op the model issues with a Stopwatch of that backend: CUDA events on the stream on a GPU (the
// wall clock on the CPU, whose ops are synchronous). It also times how long each call takes to return on the
// host. When the GPU keeps ahead of the host, the two differ: the device time is the kernel's. When the GPU
// waits for the host (small decode batches), the start event fires as it is recorded, so the device time
// includes the op's own launch and comes close to the host time: the op is launch-bound, the cost CUDA graphs
// remove. Graphs are off while profiling (a graph replays as one launch, with nothing between its ops to time).
#pragma once
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace ls {

enum class OpKind : int {
    QkvProj,      // the GEMMs (cuBLAS / OpenBLAS), by the role of their weight (name_weights): q, k and v
    OutProj,
    Fc1,
    Fc2,
    LmHead,       // the tied embedding table, as the LM head's weight
    Linear,       // any other GEMM (opt-350m's project_in/out, or weights not named)
    Attention,    // paged attention over the KV cache
    WriteKv,      // this step's K/V into their slots
    LayerNorm,    // layer_norm, and add_residual_layer_norm (a row-parallel layer's epilogue fused into it)
    Embedding,    // token lookup (vocab-parallel) and positions
    Elementwise,  // add, add_bias (+ relu), add_residual, convert, gather_rows
    Copy,         // host ↔ device: the step's inputs up, the logits (or greedy token ids) down
    Sample,       // greedy sampling on the device (argmax_rows)
    kCount
};
const char* op_kind_name(OpKind k);  // "linear", "attention", "write_kv", ...

struct OpStats {
    int64_t calls = 0;
    double seconds = 0;       // on the device, between the op's stopwatch events
    double host_seconds = 0;  // until each call returned on the host (the launch, on a GPU)
};
using OpProfile = std::array<OpStats, size_t(OpKind::kCount)>;

class ProfilingBackend final : public Backend {
public:
    explicit ProfilingBackend(std::unique_ptr<Backend> inner);

    // Every op timed so far: with `wait`, after waiting for the device to finish the ones in flight; without
    // (a failure report, when the device may be stuck), what was read already, touching no device. reset()
    // starts again: the loading and profiling passes are not serving.
    const OpProfile& profile(bool wait = true);
    void reset();
    Backend& inner() { return *inner_; }
    // GEMMs whose weight starts at one of these addresses count under the role named beside it ("qkv_proj",
    // "out_proj", "fc1", "fc2", "lm_head"; other names count as "linear"): OptModel::linear_weights().
    void name_weights(const std::vector<std::pair<const void*, std::string>>& weights);

    std::string name() const override { return inner_->name(); }
    DType compute_dtype() const override { return inner_->compute_dtype(); }
    DType weight_dtype() const override { return inner_->weight_dtype(); }
    bool host_memory() const override { return inner_->host_memory(); }
    double total_memory() const override { return inner_->total_memory(); }
    MemoryUsage memory_usage() const override { return inner_->memory_usage(); }
    void reset_peak() override { inner_->reset_peak(); }
    int64_t memory_used_elsewhere() const override { return inner_->memory_used_elsewhere(); }
    void empty_cache() override { inner_->empty_cache(); }
    int64_t device_used_bytes() const override { return inner_->device_used_bytes(); }
    int64_t alloc_bytes(int64_t bytes) const override { return inner_->alloc_bytes(bytes); }
    std::string device_bus_id() const override { return inner_->device_bus_id(); }
    std::unique_ptr<Stopwatch> make_stopwatch() override { return inner_->make_stopwatch(); }

    Buffer alloc(DType dtype, std::initializer_list<int64_t> shape) override { return inner_->alloc(dtype, shape); }
    void copy_from_host(const Tensor& dst, const void* src) override;
    void copy_to_host(void* dst, const Tensor& src) override;
    void synchronize() override;

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
    // supports_graphs() stays false: the engine runs every step eagerly.

private:
    OpKind weight_kind(const Tensor& w) const;  // a GEMM's role by its weight: qkv_proj, ..., or Linear
    struct Pending {
        std::unique_ptr<Stopwatch> watch;
        OpKind kind;
    };
    template <class F>
    void timed(OpKind kind, F&& op);
    void harvest(bool wait);  // folds finished stopwatches into profile_, oldest first

    std::unique_ptr<Backend> inner_;  // first: it outlives the stopwatches, whose events are its device's
    OpProfile profile_{};
    std::unordered_map<const void*, OpKind> weight_kinds_;
    std::deque<Pending> pending_;                  // started, not yet read, in stream order
    std::vector<std::unique_ptr<Stopwatch>> idle_;  // read, ready for the next op
};

}  // namespace ls
