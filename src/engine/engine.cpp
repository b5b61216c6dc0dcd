#include "engine/engine.h"

#include <chrono>

#include "comm/control_channel.h"
#include "engine/device_step.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;

// Decode: one token per sequence; prefill: none of them; mixed: both in one step.
StepPhase step_phase(const StepPlan& p) {
    int n_single = 0;
    for (int s = 0; s < p.n_seqs(); s++) n_single += p.query_start[size_t(s) + 1] - p.query_start[size_t(s)] == 1;
    return n_single == p.n_seqs() ? StepPhase::Decode : n_single == 0 ? StepPhase::Prefill : StepPhase::Mixed;
}

StepPlan broadcast_plan(const StepPlan& plan, const ProcessGrid& grid) {
    std::vector<int32_t> words = grid.is_driver() ? plan.pack() : std::vector<int32_t>{};
    broadcast_ints(words, grid.world_comm, 0, "step plan broadcast");
    return grid.is_driver() ? plan : StepPlan::unpack(words);
}

}  // namespace

void run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver, EngineStats& st,
                const std::function<void(int32_t)>& before_step) {
    const auto t0 = Clock::now();
    std::vector<float> logits;  // [n_sample, n_vocab] on the driver
    DeviceStep dev;
    auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    for (int32_t step = 0;; step++) {
        const auto s0 = Clock::now();
        StepPlan mine = driver ? driver->schedule(step) : StepPlan{};
        const auto w0 = Clock::now();
        const StepPlan plan = broadcast_plan(mine, grid);
        const auto f0 = Clock::now();
        st.plan_wait_seconds += seconds(w0, f0);
        if (plan.stop) break;
        if (before_step) before_step(step);
        upload_plan(be, plan, kv.block_size, dev);
        model.forward(dev.inputs, kv, logits);
        st.forward_seconds += seconds(f0, Clock::now());
        if (driver) driver->postprocess(plan, logits, model.config().n_vocab);
        st.steps.push_back({step, step_phase(plan), plan.n_seqs(), plan.n_tokens(), int64_t(plan.sample_rows.size()),
                            seconds(s0, Clock::now())});
        st.n_steps++;
        st.n_tokens += plan.n_tokens();
    }
    st.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace ls
