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
        local = wide;
    }
    if (tp_size > 1) tp.gather(reuse_buffer(be, gathered_, DType::F32, tp_size * n, v_local), local, 0);
    // Allocated here, not in read_argmax: within the profiled activation peak, and before any graph capture;
    // on every rank, though only tp_rank 0 reads, so that the ranks' peaks stay alike (lockstep plan).
    reuse_buffer(be, picked_, DType::I32, 2 * tp_size, n);
}

void ParallelLMHead::reserve(Backend& be, const Communicator& tp, int64_t rows, DType dtype) {
    const int64_t v_local = embedding->n_vocab_local;
    reuse_buffer(be, local_, dtype, rows, v_local);
    if (dtype != DType::F32) reuse_buffer(be, local_f32_, DType::F32, rows, v_local);
    if (tp.size() > 1) reuse_buffer(be, gathered_, DType::F32, tp.size() * rows, v_local);
    reuse_buffer(be, picked_, DType::I32, 2 * tp.size(), rows);
}

// The last forward's fp32 logits on tp_rank 0: [tp · n, n_vocab_local], block b = rank b's vocabulary shard,
// of which the caller reads the first n_rows rows of each block.
Tensor ParallelLMHead::logit_blocks(int64_t tp_size, int64_t n_rows) const {
    ENSURE(n_rows <= n_, "ParallelLMHead: ", n_rows, " rows of logits read, the last forward made ", n_);
    const Buffer& src = tp_size > 1 ? gathered_ : local_f32_.empty() ? local_ : local_f32_;
    return make_tensor(src.tensor().data, DType::F32, {tp_size * n_, embedding->n_vocab_local});
}

void ParallelLMHead::read(Backend& be, const Communicator& tp, int64_t n_rows, std::vector<float>& logits) {
    logits.clear();
    if (tp.rank() != 0 || n_rows == 0) return;
    const VocabParallelEmbedding& e = *embedding;
    const int64_t n = n_, v_local = e.n_vocab_local, tp_size = tp.size();
    // [tp, n, v_local] → [n_rows, n_vocab]: row r of the logits is the r-th row of each block, side by side.
    // (n > n_rows when a CUDA graph ran a padded batch: the padding rows are not copied.)
    const Tensor blocks = logit_blocks(tp_size, n_rows);
    host_.resize(size_t(tp_size * n_rows * v_local));
    for (int64_t b = 0; b < tp_size; b++)
        be.copy_to_host(&host_[size_t(b * n_rows * v_local)], blocks.slice_rows(b * n, b * n + n_rows));
    logits.assign(size_t(n_rows * e.n_vocab), 0.0f);
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < tp_size; b++) {
            const int64_t v0 = b * v_local, len = std::min(v_local, e.n_vocab - v0);
            if (len > 0)
                std::memcpy(&logits[size_t(r * e.n_vocab + v0)], &host_[size_t((b * n_rows + r) * v_local)],
                            size_t(len) * 4);
        }
}

// Each TP block's row maximum on the device (its columns past the vocabulary left out), then the best of the
// blocks here: 2 · tp int32 per row cross to the host instead of n_vocab floats. Blocks in vocabulary order and
// a strict > keep the first maximum, as the sampler's argmax.
void ParallelLMHead::read_argmax(Backend& be, const Communicator& tp, int64_t n_rows, std::vector<int32_t>& ids) {
    ids.clear();
    if (tp.rank() != 0 || n_rows == 0) return;
    const VocabParallelEmbedding& e = *embedding;
    const int64_t n = n_, v_local = e.n_vocab_local, tp_size = tp.size();
    const Tensor blocks = logit_blocks(tp_size, n_rows);
    const Tensor picked = reuse_buffer(be, picked_, DType::I32, 2 * tp_size, n_rows);
    const int64_t n_blocks = std::min(tp_size, (e.n_vocab + v_local - 1) / v_local);  // blocks with columns
    for (int64_t b = 0; b < n_blocks; b++) {
        const Tensor idx = picked.slice_rows(b, b + 1), val = picked.slice_rows(tp_size + b, tp_size + b + 1);
        be.argmax_rows(idx, make_tensor(val.data, DType::F32, {n_rows}), blocks.slice_rows(b * n, b * n + n_rows),
                       std::min(v_local, e.n_vocab - b * v_local));
    }
    host_picked_.resize(size_t(2 * tp_size * n_rows));
    be.copy_to_host(host_picked_.data(), picked);
    ids.resize(size_t(n_rows));
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t best = -1;
        float best_v = -INFINITY;
        for (int64_t b = 0; b < n_blocks; b++) {
            float v;
            std::memcpy(&v, &host_picked_[size_t((tp_size + b) * n_rows + r)], 4);
            ENSURE(!std::isnan(v), "sampler: the logits of sampled row ", r, " hold NaN or +inf (vocabulary ",
                   b * v_local, "..", std::min(e.n_vocab, (b + 1) * v_local) - 1, ")");
            if (v > best_v) {
                best_v = v;
                best = b * v_local + host_picked_[size_t(b * n_rows + r)];
            }
        }
        ENSURE(best >= 0, "sampler: all ", e.n_vocab, " logits of sampled row ", r, " are -inf");
        ids[size_t(r)] = int32_t(best);
    }
}

}  // namespace ls
