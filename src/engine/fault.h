// --inject-fault rank=R,at=load|step:N,kind=throw|exit|sigkill|hang: makes one rank fail on purpose, so the
// tests can check that the whole job ends promptly with a message naming the rank and the cause, and that
// the driver's report is still written, marked incomplete. A hanging rank is caught by the others' watchdog
// (--collective-timeout).
#pragma once
#include <string>

namespace ls {

struct FaultSpec {
    enum class Kind { None, Throw, Exit, SigKill, Hang };
    Kind kind = Kind::None;
    int world_rank = -1;
    int step = -1;  // -1: at load
};

FaultSpec parse_fault(const std::string& spec);  // "" → no fault; throws ls::Error naming --inject-fault
// Fails here if the spec names this rank and this point (step -1 = just after loading).
void maybe_inject_fault(const FaultSpec& f, int world_rank, int step);

}  // namespace ls
