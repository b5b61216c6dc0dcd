// Megatron-LM's two linear layers (Shoeybi et al. 2019, §3), with nn.Linear's weight layout A = [d_out, d_in]:
//
//   ColumnParallelLinear  Y_i = X · A_iᵀ + b_i     A split by output rows: rank i holds A_i = A[i·d/tp ..]
//                         no communication; Y stays split (attention heads, FFN columns)
//   RowParallelLinear     Y = Σ_i X_i · A_iᵀ + b   A split by input columns: rank i holds A[:, i·d/tp ..]
//                         one all-reduce of the partial sums, then the bias, added once
//
// In an OPT layer: q/k/v and fc1 are column-parallel, out_proj and fc2 row-parallel, so each half of a layer
// costs exactly one all-reduce of [n_tokens, d_model].
#pragma once
#include "comm/communicator.h"
#include "parallel/shard_loader.h"

namespace ls {

struct ColumnParallelLinear {
    Buffer weight;  // [d_out_local, d_in], row block tp_rank
    Buffer bias;    // [d_out_local]
    void forward(Backend& be, const Tensor& y, const Tensor& x) const;  // y: [n, d_out_local]
};

struct RowParallelLinear {
    Buffer weight;  // [d_out, d_in_local], column block tp_rank
    Buffer bias;    // [d_out], replicated
    void forward(Backend& be, Communicator& tp, const Tensor& y, const Tensor& x) const;  // x: [n, d_in_local]
};

ColumnParallelLinear load_column_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                          int tp_size);
RowParallelLinear load_row_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                    int tp_size);

}  // namespace ls
