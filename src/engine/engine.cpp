#include "engine/engine.h"

#include <chrono>

#include "comm/control_channel.h"
#include "engine/device_step.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;

StepPlan broadcast_plan(const StepPlan& plan, const ProcessGrid& grid) {
    std::vector<int32_t> words = grid.is_driver() ? plan.pack() : std::vector<int32_t>{};
    broadcast_ints(words, grid.world_comm, 0, "step plan broadcast");
    return grid.is_driver() ? plan : StepPlan::unpack(words);
}

}  // namespace

EngineStats run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver) {
    EngineStats st;
    const auto t0 = Clock::now();
    std::vector<float> logits;  // [n_sample, n_vocab] on the driver
    DeviceStep dev;
    for (int32_t step = 0;; step++) {
        const StepPlan plan = broadcast_plan(driver ? driver->schedule(step) : StepPlan{}, grid);
        if (plan.stop) break;
        upload_plan(be, plan, kv.block_size, dev);
        const auto f0 = Clock::now();
        model.forward(dev.inputs, kv, logits);
        st.forward_seconds += std::chrono::duration<double>(Clock::now() - f0).count();
        if (driver) driver->postprocess(plan, logits, model.config().n_vocab);
        st.n_steps++;
        st.n_tokens += plan.n_tokens();
    }
    st.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return st;
}

}  // namespace ls
