// A step plan's arrays copied to the device, as the model's StepInputs.
#pragma once
#include "engine/step_plan.h"
#include "model/step_inputs.h"

namespace ls {

struct DeviceStep {
    Buffer token_ids, positions, slot_mapping, query_start, block_tables, sample_rows;
    StepInputs inputs;  // views of the buffers above
};

void upload_plan(Backend& be, const StepPlan& plan, int block_size, DeviceStep& dev);

}  // namespace ls
