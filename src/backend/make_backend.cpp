#include "backend/cpu_backend.h"

namespace ls {

std::unique_ptr<Backend> make_backend(const std::string& device, int n_threads) {
    if (device == "cpu" || device == "auto") return std::make_unique<CpuBackend>(n_threads);
    raise("--device ", device, ": this build has no CUDA backend (it was configured without nvcc)");
}

}  // namespace ls
