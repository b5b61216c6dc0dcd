// CUDA's execution model on the CPU, for running kernels/*.cu where no GPU exists. Each CUDA thread of a block
// is a fiber with its own stack; blocks run one after the other. A fiber runs until it reaches
// __syncthreads (waits for every live thread of its block) or a warp shuffle (waits for the 32 lanes of its
// warp), so the kernels' indexing, reductions and barriers execute as written, in an order this file chooses:
// four of them (Order), so that a missing barrier shows up as a wrong result.
//
// What it checks that a GPU would not report: a barrier some threads never reach (deadlock), a full-mask
// shuffle with a lane that has exited, launch limits (threads per block, grid, 48 KiB dynamic shared memory).
// Shared memory, static and dynamic, starts every block as NaN bytes, so a read before any write shows.
// What it cannot check: timing, memory coalescing, the GPU memory model, the hardware's own fp16 arithmetic
// (conversions use cuda_fp16.h's host code), cuBLAS. It is a test of the kernels' logic, not of a GPU.
//
// Included first in each kernels/*.cu as tests/emu/translate_kernel.cmake rewrites it: that rewrites
// `k<<<grid, block, smem, stream>>>(args)` into `::ls::emu::Launch(grid, block, smem, stream)(k, args)` and
// `extern __shared__ T name[];` into `T* name = ::ls::emu::dynamic_smem<T>();`, and `__shared__ T name[N];`
// into `auto& name = ::ls::emu::block_shared<T[N]>([] {});`.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>

#include "backend/cuda_check.h"
#include "core/check.h"

namespace ls::emu {

// Which ready thread runs next. Forward, Reverse and Shuffled interleave all threads; WarpAhead lets one
// warp run as far as its barriers allow before any other moves, as a warp that gets ahead on a GPU would.
enum class Order { Forward, Reverse, Shuffled, WarpAhead };
void set_order(Order order, uint32_t seed = 1);

// Built-in variables of the running fiber.
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

// Throws ls::Error, as a failed launch would report cudaErrorInvalidConfiguration, when a launch is outside
// CUDA's limits (threads per block, grid, 48 KiB of dynamic shared memory).
void check_launch(dim3 grid, dim3 block, size_t dynamic_smem_bytes);
// Runs body once per thread of every block; throws ls::Error naming the block and thread on a deadlock or a
// bad shuffle.
void run_grid(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& body);

// Where a launch goes: by default it runs at once; the emulated CUDA runtime (cudart_emu.cpp) installs a hook
// that puts it on the stream instead (run at the stream's next synchronization, or recorded by a capture).
using SubmitHook = void (*)(cudaStream_t stream, std::function<void()> op);
void set_submit_hook(SubmitHook hook);
void submit(cudaStream_t stream, std::function<void()> op);

void syncthreads();
uint64_t shfl_xor_bits(unsigned mask, uint64_t bits, int lane_mask, int width);
uint64_t shfl_idx_bits(unsigned mask, uint64_t bits, int src_lane, int width);  // __shfl_sync
void* dynamic_smem_base();

template <class T>
T* dynamic_smem() {
    return static_cast<T*>(dynamic_smem_base());
}

// A `__shared__ T name;` declaration: one T per declaration (Site: a lambda written there, a type of its own),
// filled with NaN bytes when the first thread of a block reaches it, so no value survives from another block.
uint64_t block_epoch();  // changes with every block run
template <class T, class Site>
T& block_shared(Site) {
    static_assert(std::is_trivially_copyable_v<T>, "__shared__ of a trivially copyable type");
    static T storage;
    static uint64_t epoch = 0;
    if (epoch != block_epoch()) {
        epoch = block_epoch();
        std::memset(static_cast<void*>(&storage), 0xff, sizeof(T));
    }
    return storage;
}

// A launch: the arguments are converted to the kernel's parameter types once, as a launch copies them, and
// every thread calls the kernel with its own copy.
struct Launch {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    Launch(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = nullptr) : grid(g), block(b), smem(s), stream(st) {}
    template <class... P, class... A>
    void operator()(void (*kernel)(P...), A&&... args) const {
        static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
        check_launch(grid, block, smem);
        std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
        submit(stream, [g = grid, b = block, sm = smem, kernel, params = std::move(params)] {
            run_grid(g, b, sm, [&] { std::apply(kernel, params); });
        });
    }
};

}  // namespace ls::emu

// The device built-ins the kernels use, as host functions and variables.
#undef __shared__
#define __shared__ __shared__declaration_not_rewritten_by_translate_kernel_cmake  // a compile error
#define threadIdx ::ls::emu::thread_idx
#define blockIdx ::ls::emu::block_idx
#define blockDim ::ls::emu::block_dim
#define gridDim ::ls::emu::grid_dim
#undef LAUNCH_CHECK
#define LAUNCH_CHECK() ((void)0)  // a bad launch has already thrown from ls::emu::check_launch

inline void __syncthreads() { ls::emu::syncthreads(); }

namespace ls::emu {
// A shuffle of any 1- to 8-byte value, through its bits.
template <class T, class Shuffle>
T shuffle_value(T v, Shuffle shuffle_bits) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "a warp shuffle of a 1- to 8-byte value");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = shuffle_bits(bits);
    std::memcpy(&v, &bits, sizeof(T));
    return v;
}
}  // namespace ls::emu

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return ls::emu::shuffle_value(v, [&](uint64_t b) { return ls::emu::shfl_xor_bits(mask, b, lane_mask, width); });
}

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    return ls::emu::shuffle_value(v, [&](uint64_t b) { return ls::emu::shfl_idx_bits(mask, b, src_lane, width); });
}

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
