// What the emulated CUDA runtime (cudart_emu.cpp) offers the emulated cuBLAS and NCCL: their calls are ops on
// a stream like kernels, queued (or captured into a graph) and run at the stream's next synchronization.
#pragma once
#include <cuda_runtime_api.h>

#include <functional>

namespace ls::emu {

void enqueue(cudaStream_t stream, std::function<void()> op);

}  // namespace ls::emu
