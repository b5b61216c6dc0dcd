// What the emulated CUDA runtime (cudart_emu.cpp) offers the emulated cuBLAS and NCCL: their calls are ops on
// a stream like kernels, queued (or captured into a graph) and run at the stream's next synchronization.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>

namespace ls::emu {

void enqueue(cudaStream_t stream, std::function<void()> op);

// Whether [p, p + bytes) lies inside one cudaMalloc'd block: what a kernel, cuBLAS or NCCL may touch.
bool is_device_memory(const void* p, size_t bytes);

}  // namespace ls::emu
