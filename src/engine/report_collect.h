// Gathers every rank's figures on the driver (MPI_Gather) and writes the run's HDF5 report there; and, once
// loading is done, arms the abort hook that writes what the driver has if the driver itself fails.
#pragma once
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/runtime.h"

namespace ls {

// On the driver, before any weight is read: --report's folder (results/ by default, made here) can be written.
void check_report_path(const RunOptions& o);

// Every rank calls it (it gathers). Returns the path written on the driver ("" elsewhere or with --report none).
std::string write_report(const RunOptions& o, const Runtime& rt, const EngineStats& st,
                         const std::vector<Sequence>* requests);

// Disarms the abort hook when it leaves scope: declared after what the hook reads, it goes first on unwinding.
struct AbortHookGuard {
    AbortHookGuard() = default;
    AbortHookGuard(const AbortHookGuard&) = delete;
    ~AbortHookGuard() { set_abort_hook(nullptr); }
};

// On the driver: if it fails while the returned guard lives, an incomplete report with its own figures is
// written before the job is aborted.
[[nodiscard]] std::unique_ptr<AbortHookGuard> arm_incomplete_report(const RunOptions& o, const Runtime& rt,
                                                                    const EngineStats& st,
                                                                    const std::vector<Sequence>* requests);

}  // namespace ls
