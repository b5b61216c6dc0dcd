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

void ParallelLMHead::forward(Backend& be, Communicator& tp, const Tensor& h, std::vector<float>& logits) const {
    const VocabParallelEmbedding& e = *embedding;
    const int64_t n = h.rows(), v_local = e.n_vocab_local, tp_size = tp.size();
    Buffer local = be.alloc(DType::F32, {n, v_local});
    be.linear(local, h, e.table, nullptr);
    logits.clear();
    Buffer gathered;
    const Tensor* blocks = &local.tensor();
    if (tp_size > 1) {
        gathered = be.alloc(DType::F32, {tp_size, n, v_local});
        tp.gather(gathered, local, 0);
        blocks = &gathered.tensor();
    }
    if (tp.rank() != 0) return;
    // [tp, n, v_local] → [n, n_vocab]: row r of the logits is the r-th row of each block, side by side.
    std::vector<float> host(size_t(tp_size * n * v_local));
    be.copy_to_host(host.data(), *blocks);
    logits.assign(size_t(n * e.n_vocab), 0.0f);
    for (int64_t r = 0; r < n; r++)
        for (int64_t b = 0; b < tp_size; b++) {
            const int64_t v0 = b * v_local, len = std::min(v_local, e.n_vocab - v0);
            if (len > 0)
                std::memcpy(&logits[size_t(r * e.n_vocab + v0)], &host[size_t((b * n + r) * v_local)],
                            size_t(len) * 4);
        }
}

}  // namespace ls
