// What the emulated CUDA runtime (cudart_emu.cpp) offers the emulated cuBLAS and NCCL: their calls are ops on
// a stream like kernels, queued (or captured into a graph) and run by the device thread once the host
// synchronizes the stream, or, for a communication op, once the device gets to it.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>

namespace ls::emu {

// `comm`: an op that waits for other processes (an NCCL call): the device runs the stream up to it without
// the host synchronizing, as a GPU reaches a collective its peers wait in.
void enqueue(cudaStream_t stream, std::function<void()> op, bool comm = false);

// The device of this host thread (cudaSetDevice).
int current_device();

// Whether [p, p + bytes) lies inside one cudaMalloc'd block: what a kernel, cuBLAS or NCCL may touch.
bool is_device_memory(const void* p, size_t bytes);

}  // namespace ls::emu
