// One request as the driver tracks it: its tokens, sampling settings, KV blocks and outcome.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace ls {

enum class SeqStatus { Waiting, Running, Finished };

struct Sequence {
    int id = 0;                       // request index, in prompt order
    std::string prompt;
    std::vector<int32_t> prompt_ids;  // with OPT's leading </s>
    std::vector<int32_t> output_ids;
    SamplingParams sampling;
    std::mt19937_64 rng;
    int max_tokens = 16;
    int max_len = 0;                  // prompt + output never exceeds this (--max-model-len)

    SeqStatus status = SeqStatus::Waiting;
    int n_computed = 0;               // tokens whose K/V are in the cache
    bool in_flight = false;           // in a plan whose logits are not back yet (pipeline parallelism)
    std::vector<int32_t> block_table;
    int n_preemptions = 0;

    std::string text;                 // decoded output (stop strings are cut off)
    std::string finish_reason;        // "stop", "length" or "error"
    std::string error;
    std::vector<std::vector<TokenLogprob>> logprobs;

    // Seconds since the engine started: when the request may be admitted, and when each token came out.
    double arrival = 0;
    std::vector<double> token_times;

    int n_tokens() const { return int(prompt_ids.size() + output_ids.size()); }
    int32_t token(int i) const {
        return i < int(prompt_ids.size()) ? prompt_ids[size_t(i)] : output_ids[size_t(i) - prompt_ids.size()];
    }
    int max_total_tokens() const { return std::min(int(prompt_ids.size()) + max_tokens, max_len); }
};

}  // namespace ls
