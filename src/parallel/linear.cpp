#include "parallel/linear.h"

namespace ls {

void ColumnParallelLinear::forward(Backend& be, const Tensor& y, const Tensor& x, bool relu) const {
    const Tensor& b = bias;
    if (!relu) return be.linear(y, x, weight, &b);
    be.linear(y, x, weight, nullptr);
    be.add_bias_relu(y, b);
}

void QkvParallelLinear::forward(Backend& be, const Tensor& qkv, const Tensor& x) const {
    be.linear_stacked(qkv, x, weight, bias);
}

namespace {
// y = Σ_i X_i · A_iᵀ over the TP group: this rank's partial product, all-reduced.
void reduced_sums(Backend& be, Communicator& tp, const Tensor& y, const Tensor& x, const Tensor& weight) {
    be.linear(y, x, weight, nullptr);
    tp.all_reduce_sum(y);
}
}  // namespace

// The bias after the reduction, so that it is counted once and not tp times.
void RowParallelLinear::forward(Backend& be, Communicator& tp, const Tensor& h, const Tensor& y,
                                const Tensor& x) const {
    reduced_sums(be, tp, y, x, weight);
    be.add_residual(h, y, bias);
}

void RowParallelLinear::forward(Backend& be, Communicator& tp, const Tensor& h, const Tensor& y, const Tensor& x,
                                const LayerNorm& norm, const Tensor& norm_out) const {
    reduced_sums(be, tp, y, x, weight);
    be.add_residual_layer_norm(norm_out, h, y, bias, norm.weight, norm.bias, norm.eps);
}

ColumnParallelLinear load_column_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                          int tp_size) {
    const int64_t d_out_local = w.shape[0] / tp_size, r0 = tp_rank * d_out_local;
    return {ld.rows(w, r0, r0 + d_out_local, d_out_local, false), ld.range(b, r0, r0 + d_out_local, false)};
}

QkvParallelLinear load_qkv_parallel(ShardLoader& ld, const std::vector<const TensorInfo*>& w,
                                    const std::vector<const TensorInfo*>& b, int tp_rank, int tp_size) {
    const int64_t d_out_local = w.front()->shape[0] / tp_size, r0 = tp_rank * d_out_local;
    return {ld.stacked(w, r0, r0 + d_out_local), ld.stacked(b, r0, r0 + d_out_local)};
}

RowParallelLinear load_row_parallel(ShardLoader& ld, const TensorInfo& w, const TensorInfo& b, int tp_rank,
                                    int tp_size) {
    const int64_t d_in_local = w.shape[1] / tp_size, c0 = tp_rank * d_in_local;
    return {ld.cols(w, c0, c0 + d_in_local), ld.whole(b)};
}

}  // namespace ls
