#include "parallel/embedding.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ls {

void VocabParallelEmbedding::forward(Backend& be, Communicator& tp, const Tensor& y, const Tensor& ids) const {
    be.embedding(y, ids, table, vocab_begin);
    tp.all_reduce_sum(y);
}

VocabParallelEmbedding load_vocab_parallel_embedding(ShardLoader& ld, const TensorInfo& table, int tp_rank,
                                                     int tp_size) {
    VocabParallelEmbedding e;
    e.n_vocab = table.shape[0];
    e.n_vocab_local = (e.n_vocab + tp_size - 1) / tp_size;
    e.vocab_begin = tp_rank * e.n_vocab_local;
    const int64_t r1 = std::min(e.n_vocab, e.vocab_begin + e.n_vocab_local);
    e.table = ld.rows(table, std::min(e.vocab_begin, r1), r1, e.n_vocab_local, false);
    return e;
}

void ParallelLMHead::forward(Backend& be, Communicator& tp, const Tensor& h) {
    const VocabParallelEmbedding& e = *embedding;
    const int64_t n = n_ = h.rows(), v_local = e.n_vocab_local, tp_size = tp.size();
    Tensor local = reuse_buffer(be, local_, h.dtype, n, v_local);
    be.linear(local, h, e.table, nullptr);
    if (local.dtype != DType::F32) {  // the sampler reads fp32, whatever the compute dtype
        const Tensor wide = reuse_buffer(be, local_f32_, DType::F32, n, v_local);
        be.convert(wide, local);
    }
    // What read() and read_argmax() gather into, allocated here: within the profiled activation peak, before
    // any graph capture, and on every rank, though only tp_rank 0 receives, so that the ranks' peaks stay
    // alike (lockstep plan).
    if (tp_size > 1) reuse_buffer(be, gathered_, DType::F32, tp_size * n, v_local);
    reuse_buffer(be, picked_, DType::I32, 2 * tp_size, n);
}

void ParallelLMHead::reserve(Backend& be, const Communicator& tp, int64_t rows, DType dtype) {
    const int64_t v_local = embedding->n_vocab_local;
    reuse_buffer(be, local_, dtype, rows, v_local);
    if (dtype != DType::F32) reuse_buffer(be, local_f32_, DType::F32, rows, v_local);
    if (tp.size() > 1) reuse_buffer(be, gathered_, DType::F32, tp.size() * rows, v_local);
    reuse_buffer(be, picked_, DType::I32, 2 * tp.size(), rows);
}

// This rank's fp32 logits of the first n_rows rows of the last forward: [n_rows, n_vocab_local].
Tensor ParallelLMHead::local_logits(int64_t n_rows) const {
    ENSURE(n_rows <= n_, "ParallelLMHead: ", n_rows, " rows of logits read, the last forward made ", n_);
    const Buffer& src = local_f32_.empty() ? local_ : local_f32_;
    return make_tensor(src.tensor().data, DType::F32, {n_rows, embedding->n_vocab_local});
}

void ParallelLMHead::read(Backend& be, Communicator& tp, int64_t n_rows, std::vector<float>& logits) {
    logits.clear();
    if (n_rows == 0) return;
    const VocabParallelEmbedding& e = *embedding;
    const int64_t v_local = e.n_vocab_local, tp_size = tp.size();
    // [tp · n_rows, v_local] on tp_rank 0, block b = rank b's vocabulary shard. (Only the sampled rows travel:
    // a CUDA graph's padding rows stay behind.)
    Tensor blocks = local_logits(n_rows);
    if (tp_size > 1) {
        const Tensor all = make_tensor(gathered_.tensor().data, DType::F32, {tp_size * n_rows, v_local});
        tp.gather(all, blocks, 0);
        blocks = all;
    }
    if (tp.rank() != 0) return;
    host_.resize(size_t(tp_size * n_rows * v_local));
    be.copy_to_host(host_.data(), blocks);
    // Row r of the logits is the r-th row of each block, side by side, the last block's padding dropped.
    logits.assign(size_t(n_rows * e.n_vocab), 0.0f);
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < tp_size; b++) {
            const int64_t v0 = b * v_local, len = std::min(v_local, e.n_vocab - v0);
            if (len > 0)
                std::memcpy(&logits[size_t(r * e.n_vocab + v0)], &host_[size_t((b * n_rows + r) * v_local)],
                            size_t(len) * 4);
        }
}

// Greedy sampling where the logits are: each rank takes its shard's row maxima (its padding columns left
// out), tp_rank 0 gathers them, 8 bytes a row from each rank instead of n_vocab_local floats, and keeps the
// best. Ranks in vocabulary order and a strict > keep the first maximum, as the sampler's argmax.
void ParallelLMHead::read_argmax(Backend& be, Communicator& tp, int64_t n_rows, std::vector<int32_t>& ids) {
    ids.clear();
    if (n_rows == 0) return;
    const VocabParallelEmbedding& e = *embedding;
    const int64_t v_local = e.n_vocab_local, tp_size = tp.size();
    const Tensor logits = local_logits(n_rows);
    // [2 · tp, n_rows] on tp_rank 0: rank b's row b·2 holds its maxima's indices within its shard, row b·2 + 1
    // the maxima (fp32 bits). A rank's own pair goes to the gathered logits' buffer, idle on a greedy step.
    const Tensor all = make_tensor(picked_.tensor().data, DType::I32, {2 * tp_size, n_rows});
    const Tensor mine = tp_size > 1 ? make_tensor(gathered_.tensor().data, DType::I32, {2, n_rows})
                                    : all.slice_rows(0, 2);
    const int64_t n_cols = std::clamp<int64_t>(e.n_vocab - e.vocab_begin, 0, v_local);  // 0: a shard of padding
    if (n_cols > 0)
        be.argmax_rows(mine.slice_rows(0, 1), make_tensor(mine.slice_rows(1, 2).data, DType::F32, {n_rows}), logits,
                       n_cols);
    if (tp_size > 1) tp.gather(all, mine, 0);
    if (tp.rank() != 0) return;
    host_picked_.resize(size_t(2 * tp_size * n_rows));
    be.copy_to_host(host_picked_.data(), all);
    const int64_t n_blocks = std::min(tp_size, (e.n_vocab + v_local - 1) / v_local);  // shards with columns
    ids.resize(size_t(n_rows));
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t best = -1;
        float best_v = -INFINITY;
        for (int64_t b = 0; b < n_blocks; b++) {
            float v;
            std::memcpy(&v, &host_picked_[size_t((2 * b + 1) * n_rows + r)], 4);
            ENSURE(!std::isnan(v), "sampler: the logits of sampled row ", r, " hold NaN or +inf (vocabulary ",
                   b * v_local, "..", std::min(e.n_vocab, (b + 1) * v_local) - 1, ")");
            if (v > best_v) {
                best_v = v;
                best = b * v_local + host_picked_[size_t(2 * b * n_rows + r)];
            }
        }
        ENSURE(best >= 0, "sampler: all ", e.n_vocab, " logits of sampled row ", r, " are -inf");
        ids[size_t(r)] = int32_t(best);
    }
}

}  // namespace ls
