#include "engine/fault.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <sstream>

#include "core/log.h"
#include "engine/step_plan.h"
#include "model/opt.h"

namespace ls {

FaultSpec parse_fault(const std::string& spec) {
    FaultSpec f;
    if (spec.empty()) return f;
    const char* usage =
        " (expected rank=R,at=load|step:N,kind=throw|exit|sigkill|hang, rank=R,at=load,kind=corrupt-shard, or "
        "rank=R,at=step:N,kind=diverge)";
    std::stringstream ss(spec);
    bool has_rank = false, has_at = false;
    for (std::string item; std::getline(ss, item, ',');) {
        const size_t eq = item.find('=');
        ENSURE(eq != std::string::npos, "--inject-fault ", spec, ": \"", item, "\" is not key=value", usage);
        const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
        try {
            if (k == "rank") {
                f.world_rank = std::stoi(v);
                has_rank = f.world_rank >= 0;
            } else if (k == "at" && v == "load") {
                has_at = true;
            } else if (k == "at" && v.rfind("step:", 0) == 0) {
                f.step = std::stoi(v.substr(5));
                has_at = f.step >= 0;
            } else if (k == "kind") {
                f.kind = v == "throw" ? FaultSpec::Kind::Throw : v == "exit" ? FaultSpec::Kind::Exit
                         : v == "sigkill" ? FaultSpec::Kind::SigKill : v == "hang" ? FaultSpec::Kind::Hang
                         : v == "corrupt-shard" ? FaultSpec::Kind::CorruptShard
                         : v == "diverge"       ? FaultSpec::Kind::Diverge
                                                : FaultSpec::Kind::None;
                ENSURE(f.kind != FaultSpec::Kind::None, "--inject-fault ", spec, ": unknown kind \"", v, "\"", usage);
            } else {
                raise("--inject-fault ", spec, ": unknown \"", item, "\"", usage);
            }
        } catch (const std::logic_error&) {
            raise("--inject-fault ", spec, ": \"", v, "\" is not a number", usage);
        }
    }
    ENSURE(has_rank && has_at && f.kind != FaultSpec::Kind::None, "--inject-fault ", spec, ": incomplete", usage);
    // The weights are perturbed once, before the first step; mid-run the KV cache would mix both models.
    ENSURE(f.kind != FaultSpec::Kind::CorruptShard || f.step < 0, "--inject-fault ", spec,
           ": kind=corrupt-shard only works at=load (it perturbs the weights once, before the first step)");
    ENSURE(f.kind != FaultSpec::Kind::Diverge || f.step >= 0, "--inject-fault ", spec,
           ": kind=diverge only works at=step:N (it changes the plan of one step)");
    return f;
}

void maybe_diverge(const FaultSpec& f, int world_rank, int step, StepPlan& plan) {
    if (f.kind != FaultSpec::Kind::Diverge || f.world_rank != world_rank || f.step != step || plan.token_ids.empty())
        return;
    plan.token_ids[0] ^= 1;
    log_line(cat("WARNING [rank ", world_rank, "] injected fault (kind=diverge) at step ", step,
                 ": executing the step with token_ids[0] changed to ", plan.token_ids[0]));
}

void maybe_inject_fault(const FaultSpec& f, int world_rank, int step) {
    if (f.kind == FaultSpec::Kind::None || f.kind == FaultSpec::Kind::CorruptShard ||
        f.kind == FaultSpec::Kind::Diverge || f.world_rank != world_rank ||
        f.step != step)
        return;
    const std::string where = step < 0 ? "after loading" : cat("at step ", step);
    switch (f.kind) {
        case FaultSpec::Kind::Throw: raise("injected fault (kind=throw) on rank ", world_rank, " ", where);
        case FaultSpec::Kind::Exit:
            log_line(cat("[rank ", world_rank, "] injected fault (kind=exit) ", where, ": exiting with code 3"));
            std::_Exit(3);
        case FaultSpec::Kind::SigKill:
            log_line(cat("[rank ", world_rank, "] injected fault (kind=sigkill) ", where));
            std::raise(SIGKILL);
            break;
        case FaultSpec::Kind::Hang:
            log_line(cat("[rank ", world_rank, "] injected fault (kind=hang) ", where, ": stopping here"));
            for (;;) pause();  // until the job is aborted
        case FaultSpec::Kind::None:
        case FaultSpec::Kind::CorruptShard:
        case FaultSpec::Kind::Diverge: break;
    }
}

void maybe_corrupt_shard(const FaultSpec& f, int world_rank, OptModel& model) {
    if (f.kind != FaultSpec::Kind::CorruptShard || f.world_rank != world_rank) return;
    const std::string what = model.corrupt_shard_for_test();
    log_line(cat("WARNING [rank ", world_rank, "] injected fault (kind=corrupt-shard) after loading: ", what,
                 ". THIS RUN'S OUTPUT IS WRONG ON PURPOSE."));
}

}  // namespace ls
