// Exit 0 when enough CUDA devices are visible, 77 (ctest's "skipped") with the reason otherwise: the GPU test
// scripts call it first. LOCKSTEP_TEST_GPUS (default 1): the devices the test needs, one per NCCL rank of a
// node (NCCL will not put two ranks of a communicator on one GPU).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/backend.h"

int main() {
    const char* need_env = std::getenv("LOCKSTEP_TEST_GPUS");
    const int need = need_env ? std::atoi(need_env) : 1;
    std::string why;
    const int n = ls::cuda_device_count(&why);
    if (n == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why.c_str());
        return 77;
    }
    if (n < need) {
        std::printf("SKIPPED: the test needs %d CUDA devices, %d visible\n", need, n);
        return 77;
    }
    std::printf("%d CUDA device(s)\n", n);
    return 0;
}
