// Turns one row of logits into the next token on the sampling rank (world rank 0): greedy, temperature,
// top-k, top-p, with a per-request seeded RNG so that one seed gives the same text at every TP size.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace ls {

struct SamplingParams {
    float temperature = 1.0f;  // 0 → greedy (argmax, lowest id on ties)
    int top_k = -1;            // -1 or 0 → all
    float top_p = 1.0f;        // (0, 1]
    int n_logprobs = 0;        // top-K log-probabilities to return per generated position (0 → none)
    uint64_t seed = 0;
};

struct TokenLogprob {
    int32_t id;
    double logprob;  // log_softmax of the raw logits (before temperature, top-k, top-p), as vLLM and HF report
};

struct SampleResult {
    int32_t token;
    std::vector<TokenLogprob> top;  // n_logprobs entries, highest first (ties: lower id first)
};

// Per-request random stream: std::mt19937_64 seeded from (seed, request index) so that requests do not
// share one stream and batching does not change any request's draws.
std::mt19937_64 make_request_rng(uint64_t seed, uint64_t request_index);

// logits: [n_vocab] (the real vocab; padding columns already dropped). Validates params (throws ls::Error).
SampleResult sample(const float* logits, int n_vocab, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace ls
