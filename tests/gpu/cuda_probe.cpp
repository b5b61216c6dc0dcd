// Exit 0 when a CUDA device is visible, 77 (ctest's "skipped") with the reason otherwise: the GPU test
// scripts call it first.
#include <cstdio>
#include <string>

#include "backend/backend.h"

int main() {
    std::string why;
    const int n = ls::cuda_device_count(&why);
    if (n == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why.c_str());
        return 77;
    }
    std::printf("%d CUDA device(s)\n", n);
    return 0;
}
