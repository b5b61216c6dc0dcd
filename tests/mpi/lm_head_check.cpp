// The vocabulary-parallel LM head across real ranks (CPU backend, MPI): for vocabularies that the ranks split
// evenly, with a padded last shard, and with shards of padding only, read() must return H · Eᵀ over the whole
// vocabulary on rank 0 and read_argmax() the first maximum of each row, the ranks' maxima gathered and
// combined on rank 0 (ties across shards go to the lowest id). Fewer rows read than the forward made, as
// after a CUDA graph's padded batch. usage: mpirun -np N lm_head_check
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu_backend.h"
#include "comm/mpi_communicator.h"
#include "core/check.h"
#include "mpi_check.h"
#include "parallel/embedding.h"

using namespace ls;
using mpi_check::expect;

namespace {

// Every rank builds the same full table and hidden states from the seed, and uploads its own rows.
void check_vocab(CpuBackend& be, MpiCommunicator& tp, int64_t n_vocab, int rank, int size) {
    const int64_t d = 8, n = 5, n_rows = 3;
    std::mt19937 rng{uint32_t(n_vocab)};
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> table(size_t(n_vocab * d)), h(size_t(n * d));
    // Multiples of 1/8 (h positive: the rows below win every logit): every product and partial sum is exact in
    // fp32, so each logit is the same whatever order a BLAS kernel adds in, and the ties below are exact ties
    // (OpenBLAS's Prescott kernels sum an edge column in another order than the others).
    for (float& x : table) x = std::round(u(rng) * 8.0f) / 8.0f;
    for (float& x : h) x = (std::floor(std::fabs(u(rng)) * 8.0f) + 1.0f) / 8.0f;
    // Tokens 1 and n_vocab - 1 share the largest row: a tie across shards for every hidden state, which
    // token 1 must win. (Row 2 of h is steered to token n_vocab / 2 instead, in whichever shard that lies.)
    for (int64_t j = 0; j < d; j++) table[size_t(1 * d + j)] = table[size_t((n_vocab - 1) * d + j)] = 3.0f;
    for (int64_t j = 0; j < d; j++) table[size_t((n_vocab / 2) * d + j)] = j == 0 ? 40.0f : 0.0f;
    for (int64_t r = 0; r < n; r++) h[size_t(r * d)] = r == 2 ? 5.0f : 0.0f;  // only row 2 sees dimension 0
    // The last dimension takes 30 from every logit, so that rows 0 and 1 are negative throughout: a zero
    // padding column read as a logit would win them.
    for (int64_t v = 0; v < n_vocab; v++) table[size_t(v * d + d - 1)] = -30.0f;
    for (int64_t r = 0; r < n; r++) h[size_t(r * d + d - 1)] = 1.0f;

    VocabParallelEmbedding e;
    e.n_vocab = n_vocab;
    e.n_vocab_local = (n_vocab + size - 1) / size;
    e.vocab_begin = rank * e.n_vocab_local;
    std::vector<float> mine(size_t(e.n_vocab_local * d), 0.0f);  // the padding rows stay zero
    for (int64_t r = 0; r < e.n_vocab_local && e.vocab_begin + r < n_vocab; r++)
        std::copy_n(&table[size_t((e.vocab_begin + r) * d)], d, &mine[size_t(r * d)]);
    e.table = be.alloc(DType::F32, {e.n_vocab_local, d});
    be.copy_from_host(e.table, mine.data());
    Buffer hb = be.alloc(DType::F32, {n, d});
    be.copy_from_host(hb, h.data());

    ParallelLMHead head;
    head.embedding = &e;
    head.forward(be, tp, hb);
    std::vector<float> logits;
    std::vector<int32_t> ids;
    head.read(be, tp, n_rows, logits);
    head.read_argmax(be, tp, n_rows, ids);
    const std::string at = " (n_vocab " + std::to_string(n_vocab) + ", np " + std::to_string(size) + ")";
    if (rank != 0) {
        expect(logits.empty() && ids.empty(), "only tp_rank 0 reads" + at, rank);
        return;
    }
    expect(logits.size() == size_t(n_rows * n_vocab) && ids.size() == size_t(n_rows), "sizes" + at, rank);
    if (logits.size() != size_t(n_rows * n_vocab) || ids.size() != size_t(n_rows)) return;
    for (int64_t r = 0; r < n_rows; r++) {
        int32_t best = 0;
        for (int64_t v = 0; v < n_vocab; v++) {
            float want = 0;
            for (int64_t j = 0; j < d; j++) want += h[size_t(r * d + j)] * table[size_t(v * d + j)];
            const float got = logits[size_t(r * n_vocab + v)];
            if (std::fabs(got - want) > 1e-4f * (1.0f + std::fabs(want))) {
                expect(false, "logit [" + std::to_string(r) + ", " + std::to_string(v) + "] = " +
                                  std::to_string(got) + ", want " + std::to_string(want) + at, rank);
                return;
            }
            if (got > logits[size_t(r * n_vocab + best)]) best = int32_t(v);
        }
        expect(ids[size_t(r)] == best, "row " + std::to_string(r) + ": device argmax " + std::to_string(ids[size_t(r)]) +
                                           ", host argmax " + std::to_string(best) + at, rank);
        expect(ids[size_t(r)] == (r == 2 ? n_vocab / 2 : 1), "row " + std::to_string(r) + ": token " +
                                                                 std::to_string(ids[size_t(r)]) + at, rank);
    }
}
}  // namespace

int main(int argc, char** argv) {
    const mpi_check::World w = mpi_check::init(&argc, &argv);
    const int rank = w.rank, size = w.size;
    CpuBackend be(1, 1e9);
    MpiCommunicator tp(MPI_COMM_WORLD, "TP group");
    // Even shards; a padded last shard; at np 4, shards of padding only (5 tokens: 2 + 2 + 1 + 0).
    for (int64_t n_vocab : {int64_t(4 * size), int64_t(4 * size + 1), int64_t(5), int64_t(1001)}) {
        try {
            check_vocab(be, tp, n_vocab, rank, size);
        } catch (const std::exception& ex) {
            expect(false, ex.what(), rank);
            MPI_Abort(MPI_COMM_WORLD, 1);  // a peer may be waiting in a gather
        }
    }
    return mpi_check::finish(w, "LM head read and read_argmax at np " + std::to_string(size));
}
