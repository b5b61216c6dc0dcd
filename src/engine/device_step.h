// A step plan's arrays copied to the device, as the model's StepInputs.
#pragma once
#include "engine/step_plan.h"
#include "model/step_inputs.h"

namespace ls {

struct DeviceStep {
    Buffer token_ids, positions, slot_mapping, query_start, block_tables, sample_rows;  // reused (reuse_buffer)
    StepInputs inputs;  // views of the buffers above
    std::vector<int32_t> host;  // staging for padded arrays
};

// Padding for a CUDA graph captured at a larger decode batch (0 = none): the batch is filled up to pad_seqs
// one-token sequences at position 0 whose K/V go nowhere (slot -1) and whose logits are computed and not read,
// and the block tables are widened to pad_blocks columns, the width the graph was captured with.
struct StepPadding {
    int seqs = 0;
    int blocks = 0;
};

void upload_plan(Backend& be, const StepPlan& plan, int block_size, DeviceStep& dev, StepPadding pad = {});

}  // namespace ls
