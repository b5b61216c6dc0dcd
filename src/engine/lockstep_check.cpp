#include "engine/lockstep_check.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "comm/mpi_wait.h"
#include "core/check.h"

namespace ls {

namespace {
constexpr int kTagLockstep = 3;  // control_channel's tags are 1 and 2, the abort notice 99

std::string hex(uint64_t h) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
    return buf;
}
}  // namespace

uint64_t plan_hash(const StepPlan& plan, int64_t local_step) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a, 64-bit
    auto mix = [&](uint64_t v) {
        for (int i = 0; i < 8; i++) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    mix(uint64_t(local_step));
    for (int32_t w : plan.pack()) mix(uint32_t(w));
    return h;
}

LockstepCheck::LockstepCheck(const ProcessGrid& g) : g_(g), reported_(size_t(g.world_size), 0) {}

LockstepCheck::~LockstepCheck() {
    for (Pending& p : out_) MPI_Cancel(&p.req);  // only after a failure: finish() waits for them otherwise
}

void LockstepCheck::sent(int64_t step, uint64_t hash) { sent_[step] = hash; }

void LockstepCheck::executed(int64_t step, uint64_t hash) {
    if (g_.is_driver()) {
        // The driver runs the plan it sent: a difference here is its own fault-injected or corrupted copy.
        if (sent_.at(step) != hash) bad_[step].push_back({0, hash});
        n_reports_[step]++;
        reported_[0] = step + 1;
        poll();
        check_failures();
        return;
    }
    while (!out_.empty()) {  // retire finished sends, oldest first
        int done = 0;
        MPI_CALL(MPI_Test(&out_.front().req, &done, MPI_STATUS_IGNORE));
        if (!done) break;
        out_.pop_front();
    }
    Pending& p = out_.emplace_back();
    p.msg[0] = step;
    p.msg[1] = int64_t(hash);
    MPI_CALL(MPI_Isend(p.msg, 2, MPI_INT64_T, 0, kTagLockstep, g_.world_comm, &p.req));
}

void LockstepCheck::receive_one(int src) {
    MPI_Status st;
    wait_probe(g_.world_comm, src, kTagLockstep, st, cat("--check-lockstep hash from rank ", src).c_str());
    int64_t msg[2];
    MPI_CALL(MPI_Recv(msg, 2, MPI_INT64_T, src, kTagLockstep, g_.world_comm, MPI_STATUS_IGNORE));
    const int64_t step = msg[0];
    const uint64_t hash = uint64_t(msg[1]);
    auto it = sent_.find(step);
    ENSURE(it != sent_.end() && step == reported_[size_t(src)], "--check-lockstep: world rank ", src,
           " reports executing its step ", step, " but the driver expected its step ", reported_[size_t(src)],
           ": the ranks are out of lockstep (first rank that differs: ", src, ")");
    if (it->second != hash) bad_[step].push_back({src, hash});
    reported_[size_t(src)] = step + 1;
    if (++n_reports_[step] == g_.world_size && bad_.empty()) {  // every rank agreed: forget the step
        sent_.erase(step);
        n_reports_.erase(step);
    }
}

void LockstepCheck::poll() {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_CALL(MPI_Iprobe(MPI_ANY_SOURCE, kTagLockstep, g_.world_comm, &flag, &st));
        if (!flag) return;
        receive_one(st.MPI_SOURCE);
    }
}

void LockstepCheck::check_failures() {
    if (bad_.empty()) return;
    // Name the first rank that differs: wait until every rank has reported the earliest bad step, so that a
    // low rank whose hash is still in flight is not passed over.
    const int64_t step = bad_.begin()->first;
    for (int r = 1; r < g_.world_size; r++)
        while (reported_[size_t(r)] <= step) receive_one(r);
    auto bad = bad_.begin()->second;
    std::sort(bad.begin(), bad.end());
    std::string ranks;
    for (const auto& [r, h] : bad) ranks += cat(ranks.empty() ? "" : ", ", r);
    raise("--check-lockstep: at step ", step, " world rank ", bad[0].first, " (the first rank that differs) executed a "
          "step plan with hash ", hex(bad[0].second), " where the driver sent ", hex(sent_.at(step)),
          "; ranks that differ: ", ranks, ". The ranks are out of lockstep (a rank received a different plan or "
          "sampled tokens, or skipped a step)");
}

void LockstepCheck::finish(int64_t n_steps) {
    if (g_.is_driver()) {
        for (int r = 1; r < g_.world_size; r++)
            while (reported_[size_t(r)] < n_steps) receive_one(r);
        check_failures();
        return;
    }
    for (Pending& p : out_) wait_request(p.req, "--check-lockstep hash to the driver");
    out_.clear();
}

}  // namespace ls
