// The one message the driver broadcasts each step; every rank executes exactly this.
// Sequences' tokens are contiguous: sequence s owns rows [query_start[s], query_start[s+1]) of the batch, at
// positions starting where its cached context ends. A prefill chunk and a decode token look the same.
//   example: seq A prefill of 3 tokens, seq B decode of 1 token at position 9, block_size 4
//     token_ids    a0 a1 a2 b9      positions 0 1 2 9     query_start 0 3 4
//     slot_mapping A.blk[0]·4+0..2, B.blk[2]·4+1          sample_rows 2 3 (the last row of each)
#pragma once
#include <cstdint>
#include <vector>

namespace ls {

struct StepPlan {
    int32_t step = 0;
    bool stop = false;                  // ends the loop on every rank
    // Every sampled row is greedy without log-probs: the last stage picks the tokens on its device
    // (Backend::argmax_rows) and returns their ids, not the logits.
    bool greedy = false;
    std::vector<int32_t> seq_ids;       // [n_seqs] request index of each sequence
    std::vector<int32_t> query_start;   // [n_seqs + 1]
    std::vector<int32_t> token_ids;     // [n_tokens]
    std::vector<int32_t> positions;     // [n_tokens]
    std::vector<int32_t> slot_mapping;  // [n_tokens]
    int32_t max_blocks = 0;             // width of block_tables
    std::vector<int32_t> block_tables;  // [n_seqs × max_blocks], unused entries 0
    std::vector<int32_t> sample_rows;   // [n_sample] rows whose next token is sampled, in sequence order

    int n_tokens() const { return int(token_ids.size()); }
    int n_seqs() const { return int(seq_ids.size()); }

    std::vector<int32_t> pack() const;
    static StepPlan unpack(const std::vector<int32_t>& words);  // throws ls::Error on a malformed message
    bool operator==(const StepPlan&) const = default;
};

}  // namespace ls
