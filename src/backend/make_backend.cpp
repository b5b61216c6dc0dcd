#include "backend/cpu_backend.h"

#include <algorithm>

namespace ls {

std::unique_ptr<Backend> make_backend(const BackendConfig& cfg) {
    if (cfg.device == "cpu") return std::make_unique<CpuBackend>(cfg.n_cpu_threads, cfg.cpu_memory, cfg.dtype);
    if (cfg.device == "cuda") return make_cuda_backend(cfg);
    raise("--device ", cfg.device, ": expected auto, cpu or cuda");
}

Tensor reuse_buffer(Backend& be, Buffer& b, DType dtype, int64_t rows, int64_t cols) {
    const int64_t need = rows * cols;
    if (b.empty() || b.tensor().dtype != dtype || b.tensor().numel() < need) {
        b = Buffer();  // free first: the old and new buffers never coexist
        b = be.alloc(dtype, {std::max<int64_t>(need, 1)});
    }
    return make_tensor(b.tensor().data, dtype, {rows, cols});
}

std::string resolve_device(const std::string& flag) {
    if (flag == "cpu") return "cpu";
    ENSURE(flag == "auto" || flag == "cuda", "--device ", flag, ": expected auto, cpu or cuda");
    std::string why;
    const int n = cuda_device_count(&why);
    if (n > 0) return "cuda";
    ENSURE(flag == "auto", "--device cuda: no CUDA device is visible (", why, "); use --device cpu or auto");
    return "cpu";
}

}  // namespace ls
