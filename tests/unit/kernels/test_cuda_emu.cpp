// The emulation itself: built-ins, barriers and shuffles behave as CUDA defines them, and the faults it claims
// to catch (a missing barrier, a barrier or shuffle not every thread reaches, a bad launch) are caught.
#include <doctest/doctest.h>

#include <set>
#include <tuple>
#include <vector>

#include "cuda_emu.h"

using ls::emu::Launch;
using ls::emu::Order;

namespace {

struct Seen {
    unsigned bx, by, bz, tx, ty, tz;
    auto operator<=>(const Seen&) const = default;
};

__global__ void record_kernel(std::vector<Seen>* seen, dim3* dims) {
    seen->push_back({blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z});
    dims[0] = gridDim;
    dims[1] = blockDim;
}

// Block sum through shared memory; without the barrier thread 0 may read slots nobody has written yet.
__global__ void block_sum_kernel(float* out, const float* x, bool barrier) {
    float* s = ::ls::emu::dynamic_smem<float>();
    s[threadIdx.x] = x[threadIdx.x];
    if (barrier) __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (unsigned i = 0; i < blockDim.x; i++) t += s[i];
        *out = t;
    }
}

__global__ void butterfly_kernel(int* out) {  // every lane ends with the warp's sum; lane L swaps with L ^ 1
    int v = int(threadIdx.x);
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[threadIdx.x] = v * 100 + __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void broadcast_kernel(int* out) {  // lane L reads lane (3 L + 1) mod 32's value, then lane 7's
    const int v = int(threadIdx.x) * 10;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, v, int(threadIdx.x % 32) * 3 + 1) * 1000 + __shfl_sync(0xffffffffu, v, 7);
}

__global__ void divergent_kernel(float* x) {  // half a warp at the block barrier, the other half at a shuffle
    if (threadIdx.x < 16)
        __syncthreads();
    else
        x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

__global__ void exited_lane_kernel(float* x) {
    if (threadIdx.x == 5) return;
    x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

__global__ void empty_kernel() {}

const Order kOrders[] = {Order::Forward, Order::Reverse, Order::Shuffled, Order::WarpAhead};

}  // namespace

TEST_CASE("emu: every (block, thread) of a 3-D launch runs once, with its built-ins") {
    std::vector<Seen> seen;
    dim3 dims[2];
    Launch(dim3(3, 2, 2), dim3(4, 2, 3))(record_kernel, &seen, dims);
    CHECK(seen.size() == 12 * 24);
    CHECK(std::set<Seen>(seen.begin(), seen.end()).size() == seen.size());
    for (const Seen& s : seen) CHECK((s.bx < 3 && s.by < 2 && s.bz < 2 && s.tx < 4 && s.ty < 2 && s.tz < 3));
    CHECK(std::make_tuple(dims[0].x, dims[0].y, dims[0].z) == std::make_tuple(3u, 2u, 2u));
    CHECK(std::make_tuple(dims[1].x, dims[1].y, dims[1].z) == std::make_tuple(4u, 2u, 3u));
}

TEST_CASE("emu: a barrier orders shared memory; without it the forward order reads unwritten memory") {
    std::vector<float> x(64);
    for (size_t i = 0; i < x.size(); i++) x[i] = float(i);
    for (Order o : kOrders) {
        ls::emu::set_order(o);
        float out = -1.0f;
        Launch(1, 64, 64 * sizeof(float))(block_sum_kernel, &out, x.data(), true);
        CHECK(out == 2016.0f);
    }
    ls::emu::set_order(Order::Forward);
    float out = -1.0f;
    Launch(1, 64, 64 * sizeof(float))(block_sum_kernel, &out, x.data(), false);
    CHECK(std::isnan(out));  // thread 0 ran before the others wrote: NaN bytes
    ls::emu::set_order(Order::Reverse);
    Launch(1, 64, 64 * sizeof(float))(block_sum_kernel, &out, x.data(), false);
    CHECK(out == 2016.0f);  // why every test runs in all three orders
}

TEST_CASE("emu: __shfl_xor_sync exchanges within each warp") {
    for (Order o : kOrders) {
        ls::emu::set_order(o);
        std::vector<int> out(64);
        Launch(1, 64)(butterfly_kernel, out.data());
        for (int i = 0; i < 64; i++) {
            const int warp_sum = i < 32 ? 496 : 1520;  // 0+..+31, 32+..+63
            CHECK(out[size_t(i)] == warp_sum * 100 + (i ^ 1));
        }
    }
    ls::emu::set_order(Order::Forward);
}

TEST_CASE("emu: __shfl_sync reads the source lane's value of the same warp") {
    for (Order o : kOrders) {
        ls::emu::set_order(o);
        std::vector<int> out(64);
        Launch(1, 64)(broadcast_kernel, out.data());
        for (int i = 0; i < 64; i++) {
            const int base = i < 32 ? 0 : 32;
            CHECK(out[size_t(i)] == (base + (3 * (i % 32) + 1) % 32) * 10 * 1000 + (base + 7) * 10);
        }
    }
    ls::emu::set_order(Order::Forward);
}

TEST_CASE("emu: barriers and shuffles that some threads never reach are errors, not hangs") {
    std::vector<float> x(64, 1.0f);
    CHECK_THROWS_WITH_AS(Launch(1, 64)(divergent_kernel, x.data()), doctest::Contains("deadlock"), ls::Error);
    CHECK_THROWS_WITH_AS(Launch(1, 32)(exited_lane_kernel, x.data()),
                         doctest::Contains("lane 5 of warp 0 has exited"), ls::Error);
    Launch(1, 32)(empty_kernel);  // the emulation is usable after a failed launch
}

TEST_CASE("emu: launches outside CUDA's limits are refused") {
    CHECK_THROWS_WITH_AS(Launch(1, 2048)(empty_kernel), doctest::Contains("invalid configuration"), ls::Error);
    CHECK_THROWS_WITH_AS(Launch(dim3(1, 65536), 32)(empty_kernel), doctest::Contains("invalid configuration"),
                         ls::Error);
    CHECK_THROWS_WITH_AS(Launch(1, 32, 64 * 1024)(empty_kernel), doctest::Contains("dynamic shared memory"), ls::Error);
}
