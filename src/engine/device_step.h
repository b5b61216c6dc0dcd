// A step plan's arrays copied to the device, as the model's StepInputs.
#pragma once
#include "engine/step_plan.h"
#include "model/step_inputs.h"

namespace ls {

struct DeviceStep {
    // Every array of the step back to back in one buffer, so a step costs one host-to-device copy: on the GPU
    // each copy is an API call and a wait for its pinned staging buffer, with the GPU idle meanwhile.
    Buffer buffer;              // reused (reuse_buffer): a CUDA graph's inputs never move
    StepInputs inputs;          // views into buffer
    std::vector<int32_t> host;  // the arrays as copied
};

// Padding for a CUDA graph captured at a larger decode batch (0 = none): the batch is filled up to pad_seqs
// one-token sequences at position 0 whose K/V go nowhere (slot -1) and whose logits are computed and not read,
// and the block tables are widened to pad_blocks columns, the width the graph was captured with.
struct StepPadding {
    int seqs = 0;
    int blocks = 0;
};

void upload_plan(Backend& be, const StepPlan& plan, int block_size, DeviceStep& dev, StepPadding pad = {});

// The int32 elements upload_plan copies for a decode step padded to `seqs` sequences of `blocks` table columns.
int64_t padded_step_elements(int64_t seqs, int64_t blocks);

}  // namespace ls
