// --inject-fault rank=R,at=load|step:N,kind=throw|exit|sigkill|hang: makes one rank fail on purpose, so the
// tests can check that the whole job ends promptly with a message naming the rank and the cause, and that
// the driver's report is still written, marked incomplete. A hanging rank is caught by the others' watchdog
// (--collective-timeout).
// kind=corrupt-shard (at=load only) is the silent kind: the rank perturbs its own slice of the weights and
// the job runs to completion with wrong but plausible tokens, for `lockstep compare` to catch.
// kind=diverge (at=step:N only) makes the rank fall out of lockstep: it executes step N with one token of the
// plan changed (the shapes stay the same, so nothing else notices), for --check-lockstep to catch.
#pragma once
#include <string>

namespace ls {

class OptModel;
struct StepPlan;

struct FaultSpec {
    enum class Kind { None, Throw, Exit, SigKill, Hang, CorruptShard, Diverge };
    Kind kind = Kind::None;
    int world_rank = -1;
    int step = -1;  // -1: at load
};

FaultSpec parse_fault(const std::string& spec);  // "" → no fault; throws ls::Error naming --inject-fault
// Fails here if the spec names this rank and this point (step -1 = just after loading).
void maybe_inject_fault(const FaultSpec& f, int world_rank, int step);
// kind=diverge: if the spec names this rank and step, changes its copy of the plan.
void maybe_diverge(const FaultSpec& f, int world_rank, int step, StepPlan& plan);
// kind=corrupt-shard: if the spec names this rank, perturbs its shard of the model and says so on stderr.
void maybe_corrupt_shard(const FaultSpec& f, int world_rank, OptModel& model);

}  // namespace ls
