// The vocabulary split of Megatron-LM: the embedding table E [n_vocab, d_embed] is cut into tp row blocks of
// n_vocab_local = ceil(n_vocab / tp) rows (the last block padded with zero rows).
//
//   VocabParallelEmbedding  each rank looks up the ids that fall in its block and writes zeros for the
//                           others; one all-reduce sums the rows into the full embedding
//   ParallelLMHead          logits_i = H · E_iᵀ on each rank ([n, n_vocab_local]); the blocks are gathered on
//                           tp_rank 0, which drops the padding: [n, n_vocab] for the sampler
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
    // h: [n, d_embed] → each rank's logits block [n, n_vocab_local], in fp32, gathered on tp_rank 0 into
    // device memory that read() copies out. Device work only (no host sync): a CUDA graph can capture it.
    void forward(Backend& be, Communicator& tp, const Tensor& h);
    // On tp_rank 0: the first n_rows rows of the last forward as [n_rows, n_vocab] floats; elsewhere empty.
    void read(Backend& be, const Communicator& tp, int64_t n_rows, std::vector<float>& logits);
    // Greedy sampling on the device, on tp_rank 0: the token id of each of the first n_rows rows (the first
    // maximum, as the host's sampler; it fails as the sampler does on NaN, +inf or all -inf); elsewhere empty.
    void read_argmax(Backend& be, const Communicator& tp, int64_t n_rows, std::vector<int32_t>& ids);

    // Sizes the buffers for `rows` rows now, so that no later step moves them (CUDA graphs).
    void reserve(Backend& be, const Communicator& tp, int64_t rows, DType dtype);
    // A CUDA graph replayed forward() for `rows` rows without calling it: read() must know the blocks' height.
    void set_rows(int64_t rows) { n_ = rows; }

private:
    Tensor logit_blocks(int64_t tp_size, int64_t n_rows) const;
    Buffer local_, local_f32_, gathered_;  // reused across steps (reuse_buffer)
    Buffer picked_;  // read_argmax's [2 · tp, rows]: each block's index of its row maximum, then the maximum
    int64_t n_ = 0;  // rows of the last forward
    std::vector<float> host_;
    std::vector<int32_t> host_picked_;
};

}  // namespace ls
