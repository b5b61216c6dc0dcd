// Rank-aware logging to stderr in vLLM's style: "INFO lockstep: ..." from the driver (world rank 0) and
// "INFO (Worker_TP1) ..." from each worker where figures differ per rank. Generated text goes to stdout.
#pragma once
#include <string>

#include "core/check.h"

namespace ls {

// Called once after the process grid is known; until then the worker name is "Worker".
void set_worker_name(std::string name, int world_rank);
const std::string& worker_name();

void log_line(const std::string& line);  // one write() so lines of different ranks do not interleave

template <class... A>
void log0(const A&... a) {  // world rank 0 only
    extern int g_log_world_rank;
    if (g_log_world_rank == 0) log_line(cat("INFO lockstep: ", a...));
}

template <class... A>
void log_worker(const A&... a) {  // every rank, prefixed with its worker name
    log_line(cat("INFO (", worker_name(), ") ", a...));
}

template <class... A>
void warn0(const A&... a) {
    extern int g_log_world_rank;
    if (g_log_world_rank == 0) log_line(cat("WARNING lockstep: ", a...));
}

std::string format_gib(double bytes);    // "1.24 GiB"
std::string format_bytes(double bytes);  // GiB from 1 GiB up, else MiB: "1.24 GiB", "12.7 MiB"
std::string format_seconds(double s);    // "0.53"
const char* lockstep_version();     // both in version.cpp, written at every build by cmake/git_commit.cmake
const char* lockstep_git_commit();

}  // namespace ls
