#include "engine/engine.h"

#include <chrono>

#include "comm/control_channel.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;

// The plan's arrays on the device, for this step only.
struct DeviceStep {
    Buffer token_ids, positions, slot_mapping, query_start, block_tables, sample_rows;
    StepInputs inputs;
};

Buffer upload(Backend& be, const std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
    Buffer b = be.alloc(DType::I32, shape);
    if (!v.empty()) be.copy_from_host(b, v.data());
    return b;
}

void upload_plan(Backend& be, const StepPlan& p, int block_size, DeviceStep& d) {
    const int64_t n = p.n_tokens(), n_seqs = p.n_seqs();
    d.token_ids = upload(be, p.token_ids, {n});
    d.positions = upload(be, p.positions, {n});
    d.slot_mapping = upload(be, p.slot_mapping, {n});
    d.query_start = upload(be, p.query_start, {n_seqs + 1});
    d.block_tables = upload(be, p.block_tables, {n_seqs, p.max_blocks});
    d.sample_rows = upload(be, p.sample_rows, {int64_t(p.sample_rows.size())});
    d.inputs = {d.token_ids, d.slot_mapping, d.sample_rows, {d.query_start, d.positions, d.block_tables, block_size}};
}

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
