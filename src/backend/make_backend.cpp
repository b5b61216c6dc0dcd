#include "backend/cpu_backend.h"

namespace ls {

std::unique_ptr<Backend> make_backend(const BackendConfig& cfg) {
    if (cfg.device == "cpu" || cfg.device == "auto") return std::make_unique<CpuBackend>(cfg.n_cpu_threads, cfg.cpu_memory);
    raise("--device ", cfg.device, ": this build has no CUDA backend (it was configured without nvcc)");
}

}  // namespace ls
