#include "engine/fault.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <sstream>

#include "core/log.h"

namespace ls {

FaultSpec parse_fault(const std::string& spec) {
    FaultSpec f;
    if (spec.empty()) return f;
    const char* usage = " (expected rank=R,at=load|step:N,kind=throw|exit|sigkill|hang)";
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
    return f;
}

void maybe_inject_fault(const FaultSpec& f, int world_rank, int step) {
    if (f.kind == FaultSpec::Kind::None || f.world_rank != world_rank || f.step != step) return;
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
        case FaultSpec::Kind::None: break;
    }
}

}  // namespace ls
