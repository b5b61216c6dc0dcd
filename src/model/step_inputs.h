// One step's inputs on the device: the step plan's arrays, uploaded once per step by the engine.
#pragma once
#include "backend/backend.h"

namespace ls {

struct StepInputs {
    Tensor token_ids;      // [n_tokens] int32
    Tensor slot_mapping;   // [n_tokens] int32: where each token's K/V go
    Tensor sample_rows;    // [n_sample] int32: rows whose logits are sampled (last token of a sequence)
    AttentionInputs attn;  // positions, query_start, block tables
};

}  // namespace ls
