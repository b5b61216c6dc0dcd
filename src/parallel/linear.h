// Megatron-LM's two linear layers (Shoeybi et al. 2019, §3), with nn.Linear's weight layout A = [d_out, d_in]:
//
//   ColumnParallelLinear  Y_i = X · A_iᵀ + b_i     A split by output rows: rank i holds A_i = A[i·d/tp ..]
//                         no communication; Y stays split (attention heads, FFN columns)
//   RowParallelLinear     Y = Σ_i X_i · A_iᵀ + b   A split by input columns: rank i holds A[:, i·d/tp ..]
//                         one all-reduce of the partial sums, then the bias, added once
//
// In an OPT layer: q/k/v and fc1 are column-parallel, out_proj and fc2 row-parallel, so each half of a layer
// costs exactly one all-reduce of [n_tokens, d_model]. The LayerNorms are not split: every rank holds them and
// normalises the whole (reduced) residual stream.
#pragma once
#include "comm/communicator.h"
#include "parallel/shard_loader.h"

namespace ls {

struct ColumnParallelLinear {
    Buffer weight;  // [d_out_local, d_in], row block tp_rank
    Buffer bias;    // [d_out_local]
    // y: [n, d_out_local]; with relu, max(·, 0) in the bias's pass (fc1).
    void forward(Backend& be, const Tensor& y, const Tensor& x, bool relu = false) const;
};

// q, k and v: three column-parallel layers of one input, their row blocks stacked [q_i; k_i; v_i] so that one
// batched GEMM computes all three (vLLM's QKVParallelLinear).
struct QkvParallelLinear {
    Buffer weight;  // [3 · d_out_local, d_in]
    Buffer bias;    // [3 · d_out_local]
    void forward(Backend& be, const Tensor& qkv, const Tensor& x) const;  // qkv: [3, >= n, d_out_local]
};

struct LayerNorm {
    Buffer weight, bias;  // [d_model], replicated
    float eps = 1e-5f;    // nn.LayerNorm's default, and OPT's
};

struct RowParallelLinear {
    Buffer weight;  // [d_out, d_in_local], column block tp_rank
    Buffer bias;    // [d_out], replicated
    // h[n, d_out] += X·Aᵀ + b, the layer's output added into the residual stream h; x: [n, d_in_local],
    // y: [n, d_out] scratch for the partial sums and their all-reduce.
    void forward(Backend& be, Communicator& tp, const Tensor& h, const Tensor& y, const Tensor& x) const;
    // The same, then norm_out = norm(h) in that pass over h: the input of the block that follows (norm_out
    // may be h itself, as in post-LN models).
    void forward(Backend& be, Communicator& tp, const Tensor& h, const Tensor& y, const Tensor& x,
                 const LayerNorm& norm, const Tensor& norm_out) const;
};

ColumnParallelLinear load_column_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                          int tp_size);
// w, b: the q, k and v weights [d_out, d_in] and biases [d_out].
QkvParallelLinear load_qkv_parallel(ShardLoader& ld, const std::vector<const TensorInfo*>& w,
                                    const std::vector<const TensorInfo*>& b, int tp_rank, int tp_size);
RowParallelLinear load_row_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                    int tp_size);

}  // namespace ls
