#include "parallel/embedding.h"

#include <algorithm>
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
}

void ParallelLMHead::reserve(Backend& be, const Communicator& tp, int64_t rows, DType dtype) {
    const int64_t v_local = embedding->n_vocab_local;
    reuse_buffer(be, local_, dtype, rows, v_local);
    if (dtype != DType::F32) reuse_buffer(be, local_f32_, DType::F32, rows, v_local);
    if (tp.size() > 1) reuse_buffer(be, gathered_, DType::F32, tp.size() * rows, v_local);
}

void ParallelLMHead::read(Backend& be, const Communicator& tp, int64_t n_rows, std::vector<float>& logits) {
    logits.clear();
    if (tp.rank() != 0 || n_rows == 0) return;
    const VocabParallelEmbedding& e = *embedding;
    const int64_t n = n_, v_local = e.n_vocab_local, tp_size = tp.size();
    ENSURE(n_rows <= n, "ParallelLMHead::read: ", n_rows, " rows of ", n);
    const Buffer& src = tp_size > 1 ? gathered_ : local_f32_.empty() ? local_ : local_f32_;
    // [tp, n, v_local] → [n_rows, n_vocab]: row r of the logits is the r-th row of each block, side by side.
    // (n > n_rows when a CUDA graph ran a padded batch: the padding rows are not copied.)
    const Tensor blocks = make_tensor(src.tensor().data, DType::F32, {tp_size * n, v_local});
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

}  // namespace ls
