#include "backend/openblas_env.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/check.h"

namespace ls {

namespace {

// What set_openblas_env found, for the start-up log of the process it starts again.
constexpr const char* kMisdetected = "LOCKSTEP_OPENBLAS_DETECTED";

// OpenBLAS's cores whose kernels use neither AVX2 nor AVX-512: where it lands on a CPU it does not know.
bool pre_avx2_core(const std::string& core) {
    for (const char* c : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Katmai",
                          "Coppermine", "Northwood", "Banias", "Unknown"})
        if (core == c) return true;
    return false;
}

// The best of OpenBLAS's x86 kernel families this CPU can run, or nullptr.
const char* best_core_for_this_cpu() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return nullptr;
}

}  // namespace

bool set_openblas_env(int local_ranks) {
    bool changed = false;
    if (!std::getenv("OPENBLAS_NUM_THREADS") && local_ranks > 1) {
        const int cores = int(std::thread::hardware_concurrency());
        setenv("OPENBLAS_NUM_THREADS", std::to_string(std::max(1, cores / local_ranks)).c_str(), 1);
        changed = true;
    }
    const std::string core = openblas_core();
    const char* best = best_core_for_this_cpu();
    if (!std::getenv("OPENBLAS_CORETYPE") && best && pre_avx2_core(core)) {
        setenv("OPENBLAS_CORETYPE", best, 1);
        setenv(kMisdetected, core.c_str(), 1);
        changed = true;
    }
    return changed;
}

std::string openblas_core() {
    const char* name = openblas_get_corename();
    return name ? name : "Unknown";
}

std::string openblas_core_override_note() {
    const char* was = std::getenv(kMisdetected);
    const char* now = std::getenv("OPENBLAS_CORETYPE");
    if (!was || !now) return "";
    return cat("OpenBLAS took this CPU for ", was, " (kernels without AVX2): it predates the CPU. lockstep set "
               "OPENBLAS_CORETYPE=", now, ", the best kernels the CPU runs (set OPENBLAS_CORETYPE to choose)");
}

}  // namespace ls
