#include "engine/engine.h"

#include <chrono>
#include <optional>

#include "comm/control_channel.h"
#include "engine/device_step.h"
#include "engine/lockstep_check.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;

// Decode: one token per sequence; prefill: none of them; mixed: both in one step.
StepPhase step_phase(const StepPlan& p) {
    int n_single = 0;
    for (int s = 0; s < p.n_seqs(); s++) n_single += p.query_start[size_t(s) + 1] - p.query_start[size_t(s)] == 1;
    return n_single == p.n_seqs() ? StepPhase::Decode : n_single == 0 ? StepPhase::Prefill : StepPhase::Mixed;
}

// Every rank gets the driver's plan. With one stage: a broadcast. With several, the plan travels with the
// activations: broadcast inside the first stage's TP group, then handed on stage to stage inside each PP
// group, so that a stage still busy with an older plan does not hold up the driver and the stages before it.
StepPlan distribute_plan(const StepPlan& mine, const ProcessGrid& g, AsyncSend& to_next) {
    std::vector<int32_t> words = g.is_driver() ? mine.pack() : std::vector<int32_t>{};
    if (g.is_first_stage())
        broadcast_ints(words, g.tp_comm, 0, "step plan broadcast");
    else
        words = recv_ints(g.pp_comm, g.pp_rank - 1, kTagPlan, "step plan from the previous stage");
    if (!g.is_last_stage()) {
        to_next.wait("step plan to the next stage");
        to_next.start(words.data(), words.size() * 4, g.pp_comm, g.pp_rank + 1, kTagPlan);
    }
    return g.is_driver() ? mine : StepPlan::unpack(words);
}

}  // namespace

void run_engine(const ProcessGrid& grid, Backend& be, OptModel& model, KvCache& kv, Driver* driver, EngineStats& st,
                const EngineLoopOptions& opt) {
    const auto t0 = Clock::now();
    const bool pipelined = grid.pp_size > 1;
    const int n_vocab = model.config().n_vocab;
    std::vector<float> logits;  // [n_sample, n_vocab]
    std::vector<int32_t> ids;   // [n_sample], instead, for a greedy plan
    DeviceStep dev;
    AsyncSend plan_to_next, logits_to_driver;
    std::optional<LockstepCheck> check;
    if (opt.check_lockstep) check.emplace(grid);
    auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    // The driver takes the oldest plan's logits (or, greedy, token ids) from the last stage and samples. A
    // plan that samples nothing (a prompt chunk) sends none.
    auto collect = [&] {
        const int64_t n = driver->oldest_n_sample();
        const bool greedy = driver->oldest_greedy();
        logits.resize(greedy ? 0 : size_t(n * n_vocab));
        ids.resize(greedy ? size_t(n) : 0);
        if (greedy && n > 0)
            recv_bytes(ids.data(), ids.size() * 4, grid.pp_comm, grid.pp_size - 1, kTagLogits,
                       "token ids from the last stage");
        else if (n > 0)
            recv_bytes(logits.data(), logits.size() * 4, grid.pp_comm, grid.pp_size - 1, kTagLogits,
                       "logits from the last stage");
        driver->postprocess(logits, ids, n_vocab);
    };
    for (int32_t step = 0;;) {
        const auto s0 = Clock::now();
        StepPlan mine;
        if (driver) {
            if (driver->n_in_flight() >= opt.max_in_flight) {
                collect();
                continue;
            }
            mine = driver->schedule(step);
            if (!mine.stop && mine.n_tokens() == 0) {  // all it could plan is in flight, or not arrived yet
                if (driver->n_in_flight() > 0) collect();
                continue;
            }
        }
        if (check && driver && !mine.stop) check->sent(step, plan_hash(mine, step));
        const auto w0 = Clock::now();
        StepPlan plan = distribute_plan(mine, grid, plan_to_next);
        const auto f0 = Clock::now();
        st.plan_wait_seconds += seconds(w0, f0);
        if (plan.stop) break;
        if (opt.before_step) opt.before_step(step, plan);
        if (check) check->executed(step, plan_hash(plan, step));
        if (const int g = opt.graphs ? opt.graphs->size_for(plan) : 0) {
            opt.graphs->run(plan, g);
            st.graph_steps++;
        } else {
            upload_plan(be, plan, kv.block_size, dev);
            model.forward(dev.inputs, kv);
        }
        const int64_t n_sample = int64_t(plan.sample_rows.size());
        if (plan.greedy) {
            logits.clear();
            model.read_token_ids(n_sample, ids);
        } else {
            ids.clear();
            model.read_logits(n_sample, logits);
        }
        be.synchronize();  // a GPU rank that reads no logits would otherwise time only the kernel launches
        st.forward_seconds += seconds(f0, Clock::now());
        const size_t out_bytes = plan.greedy ? ids.size() * 4 : logits.size() * 4;
        if (pipelined && out_bytes > 0) {  // the last stage's tp_rank 0
            logits_to_driver.wait("logits to the driver");
            logits_to_driver.start(plan.greedy ? static_cast<const void*>(ids.data()) : logits.data(), out_bytes,
                                   grid.pp_comm, 0, kTagLogits);
        }
        if (driver && !pipelined) driver->postprocess(logits, ids, n_vocab);
        st.steps.push_back({step, step_phase(plan), plan.n_seqs(), plan.n_tokens(), int64_t(plan.sample_rows.size()),
                            seconds(s0, Clock::now())});
        st.n_steps++;
        st.n_tokens += plan.n_tokens();
        step++;
    }
    plan_to_next.wait("step plan to the next stage");
    logits_to_driver.wait("logits to the driver");
    if (check) check->finish(st.n_steps);
    st.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace ls
