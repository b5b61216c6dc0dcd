// A build without nvcc: the CUDA entry points exist and say why there is no GPU path.
#include "backend/backend.h"

namespace ls {

int cuda_device_count(std::string* why) {
    if (why) *why = "this build of lockstep has no CUDA backend: it was configured without nvcc";
    return 0;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendConfig&) {
    raise("--device cuda: this build of lockstep has no CUDA backend (it was configured without nvcc)");
}

}  // namespace ls
