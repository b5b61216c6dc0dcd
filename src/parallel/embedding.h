// The vocabulary split of Megatron-LM: the embedding table E [n_vocab, d_embed] is cut into tp row blocks of
// n_vocab_local = ceil(n_vocab / tp) rows (the last block padded with zero rows).
//
//   VocabParallelEmbedding  each rank looks up the ids that fall in its block and writes zeros for the
//                           others; one all-reduce sums the rows into the full embedding
//   ParallelLMHead          logits_i = H · E_iᵀ on each rank ([n, n_vocab_local]); the blocks are gathered on
//                           tp_rank 0, which drops the padding: [n, n_vocab] for the sampler. A greedy step
//                           gathers each block's row maxima instead, and tp_rank 0 keeps the best
// OPT ties the LM head to E, so the head reads the embedding's own block: one copy in memory.
#pragma once
#include <vector>

#include "comm/communicator.h"
#include "parallel/shard_loader.h"

namespace ls {

struct VocabParallelEmbedding {
    Buffer table;  // [n_vocab_local, d_embed], rows [vocab_begin, vocab_begin + n_vocab_local)
    int64_t n_vocab = 0, n_vocab_local = 0, vocab_begin = 0;
    void forward(Backend& be, Communicator& tp, const Tensor& y, const Tensor& ids) const;  // y: [n, d_embed]
};

VocabParallelEmbedding load_vocab_parallel_embedding(ShardLoader& ld, const TensorInfo& table, int tp_rank,
                                                     int tp_size);

struct ParallelLMHead {
    const VocabParallelEmbedding* embedding = nullptr;  // tied weights
    // h: [n, d_embed] → this rank's logits block [n, n_vocab_local], in fp32. Device work only, no
    // collective: a CUDA graph can capture it, and the step's read decides what the ranks gather.
    void forward(Backend& be, Communicator& tp, const Tensor& h);
    // Every rank of the TP group calls one of the two reads after a forward (each gathers on tp_rank 0).
    // read: on tp_rank 0, the first n_rows rows of the last forward as [n_rows, n_vocab] floats; elsewhere empty.
    void read(Backend& be, Communicator& tp, int64_t n_rows, std::vector<float>& logits);
    // read_argmax, greedy sampling on the device: on tp_rank 0, the token id of each of the first n_rows rows
    // (the first maximum, as the host's sampler; it fails as the sampler does on NaN, +inf or all -inf);
    // elsewhere empty.
    void read_argmax(Backend& be, Communicator& tp, int64_t n_rows, std::vector<int32_t>& ids);

    // Sizes the buffers for `rows` rows now, so that no later step moves them (CUDA graphs).
    void reserve(Backend& be, const Communicator& tp, int64_t rows, DType dtype);
    // A CUDA graph replayed forward() for `rows` rows without calling it: the reads check against it.
    void set_rows(int64_t rows) { n_ = rows; }

private:
    Tensor local_logits(int64_t n_rows) const;
    Buffer local_, local_f32_, gathered_;  // reused across steps (reuse_buffer)
    Buffer picked_;  // read_argmax's [2 · tp, rows]: each rank's indices of its row maxima, then the maxima
    int64_t n_ = 0;  // rows of the last forward
    std::vector<float> host_;
    std::vector<int32_t> host_picked_;
};

}  // namespace ls
