// The fiber scheduler behind cuda_emu.h. One block at a time: its threads are fibers (Boost.Context's
// fcontext: a switch is a few instructions, no system call, which matters at a switch per lane per shuffle); the scheduler
// resumes each ready one in turn until it waits at a barrier or returns. The last thread to arrive at a
// barrier releases it. No ready thread while some still live is a deadlock: a barrier not every thread reached.
#include "cuda_emu.h"

#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ls::emu {

using boost::context::detail::fcontext_t;
using boost::context::detail::jump_fcontext;
using boost::context::detail::make_fcontext;
using boost::context::detail::transfer_t;

uint3 thread_idx{}, block_idx{};
dim3 block_dim, grid_dim;

namespace {

constexpr int kWarp = 32;
constexpr size_t kStackBytes = 128 * 1024;  // per CUDA thread; kernels keep a few hundred bytes of locals
constexpr size_t kMaxDynamicSmem = 48 * 1024;  // without cudaFuncSetAttribute, CUDA's limit

enum class State { Ready, AtSync, AtWarp, Done };

struct Thread {
    fcontext_t ctx = nullptr;  // where it resumes
    State state = State::Ready;
    uint3 idx{};
    int warp = 0, lane = 0;
    unsigned shfl_mask = 0;  // of the shuffle it waits at
    int shfl_parity = 0;     // which of its warp's two exchange buffers its next shuffle uses
};

struct Block {
    const std::function<void()>* body = nullptr;
    std::vector<Thread> threads;
    std::vector<std::unique_ptr<char[]>>* stacks = nullptr;
    std::vector<int> warp_live, warp_waiting;
    // A warp's shuffle exchange, two buffers used in turn: a lane writes buffer p, waits for its warp, reads.
    // It can write buffer p again only two shuffles later, after every lane has passed the barrier between,
    // so after every lane has read p: one barrier per shuffle instead of two.
    std::vector<std::array<std::array<uint64_t, kWarp>, 2>> lane_values;
    std::vector<size_t> order;  // of the threads, between barriers
    size_t pos = 0;             // in order: the thread that runs now
    std::vector<unsigned char> smem;
    fcontext_t scheduler = nullptr;
    int current = -1, live = 0, at_sync = 0;
    std::string error;
};

Block* g_block = nullptr;
SubmitHook g_submit = nullptr;
uint64_t g_epoch = 0;
Order g_order = Order::Forward;
std::mt19937 g_rng(1);

Thread& me() { return g_block->threads[size_t(g_block->current)]; }

// Switches to `to`; `save` is where the context we leave goes (each jump hands its own slot to the side it
// resumes, which stores the suspended context there).
void jump(fcontext_t to, fcontext_t* save) {
    const transfer_t t = jump_fcontext(to, save);
    *static_cast<fcontext_t*>(t.data) = t.fctx;
}

void enter(Block& b, size_t pos) {  // makes the thread at order[pos] the running one
    b.pos = pos;
    b.current = int(b.order[pos]);
    thread_idx = b.threads[b.order[pos]].idx;
}

// The next ready thread after the running one, in the block's order (reshuffled at each wrap when shuffled);
// false when none is.
bool next_ready(Block& b, size_t& pos) {
    const size_t n = b.order.size();
    if (g_order == Order::WarpAhead && b.current >= 0) {  // order is the identity here: pos = thread index
        const size_t first = size_t(b.current) / kWarp * kWarp, end = std::min(n, first + kWarp);
        for (size_t k = 1; k <= end - first; k++) {
            const size_t i = first + (size_t(b.current) - first + k) % (end - first);
            if (b.threads[i].state == State::Ready) {
                pos = i;
                return true;
            }
        }
    }
    for (size_t k = 1; k <= n; k++) {
        const size_t p = (b.pos + k) % n;
        if (p == 0 && g_order == Order::Shuffled) std::shuffle(b.order.begin(), b.order.end(), g_rng);
        if (b.threads[b.order[p]].state == State::Ready) {
            pos = p;
            return true;
        }
    }
    return false;
}

// Hands the CPU to the next ready thread, straight from fiber to fiber (or back to the scheduler when none is
// ready: finished or deadlocked); returns when this thread runs again.
void yield() {
    Block& b = *g_block;
    fcontext_t* from = &me().ctx;
    size_t pos = 0;
    if (!b.error.empty() || !next_ready(b, pos)) {
        jump(b.scheduler, from);
        return;
    }
    if (b.order[pos] == size_t(b.current)) return;  // released its own barrier and is first in line
    enter(b, pos);
    jump(b.threads[size_t(b.current)].ctx, from);
}

void fail(const std::string& why) {  // from a fiber: record, and never resume it
    if (g_block->error.empty()) g_block->error = why;
    for (;;) yield();
}

// Releases the block barrier, and warp w's, when every live thread of it has reached it (only the arriving or
// exiting thread's warp can have changed).
void release(Block& b, size_t w) {
    if (b.at_sync > 0 && b.at_sync == b.live) {
        for (Thread& t : b.threads)
            if (t.state == State::AtSync) t.state = State::Ready;
        b.at_sync = 0;
    }
    if (b.warp_waiting[w] == 0 || b.warp_waiting[w] != b.warp_live[w]) return;
    // Every lane a full-mask shuffle names must take part in it: a lane that has exited (or never existed)
    // makes the result undefined on a GPU.
    const size_t first = w * kWarp, end = std::min(b.threads.size(), first + kWarp);
    unsigned mask = 0;
    for (size_t i = first; i < end; i++)
        if (b.threads[i].state == State::AtWarp) {
            mask = b.threads[i].shfl_mask;
            break;
        }
    for (int lane = 0; lane < kWarp; lane++) {
        const size_t i = first + size_t(lane);
        const bool present = i < end && b.threads[i].state == State::AtWarp;
        if (present && b.threads[i].shfl_mask != mask) {
            b.error = "warp shuffle: lanes of warp " + std::to_string(w) + " pass different masks";
            return;
        }
        if ((mask >> lane & 1u) && !present) {
            std::ostringstream s;
            s << "__shfl_xor_sync with mask 0x" << std::hex << mask << std::dec << ": lane " << lane
              << " of warp " << w << " has exited or does not exist";
            b.error = s.str();
            return;
        }
    }
    for (size_t i = first; i < end; i++)
        if (b.threads[i].state == State::AtWarp) b.threads[i].state = State::Ready;
    b.warp_waiting[w] = 0;
}

void wait_warp(unsigned mask) {
    Thread& t = me();
    t.state = State::AtWarp;
    t.shfl_mask = mask;
    g_block->warp_waiting[size_t(t.warp)]++;
    release(*g_block, size_t(t.warp));
    yield();
}

void entry(transfer_t from) {
    *static_cast<fcontext_t*>(from.data) = from.fctx;
    (*g_block->body)();
    Thread& t = me();
    t.state = State::Done;
    g_block->live--;
    g_block->warp_live[size_t(t.warp)]--;
    release(*g_block, size_t(t.warp));
    fcontext_t dead = nullptr;  // never resumed: its stack is reused by the next block
    jump(g_block->scheduler, &dead);
}

std::string deadlock(const Block& b) {
    int sync = 0, warp = 0;
    for (const Thread& t : b.threads) {
        sync += t.state == State::AtSync;
        warp += t.state == State::AtWarp;
    }
    return "deadlock: " + std::to_string(sync) + " threads wait at __syncthreads and " + std::to_string(warp) +
           " at a warp shuffle that the others never reach";
}

void run_block(Block& b, const uint3& bidx, size_t n_threads) {
    b.threads.assign(n_threads, Thread{});
    const size_t n_warps = (n_threads + kWarp - 1) / kWarp;
    b.warp_live.assign(n_warps, 0);
    b.warp_waiting.assign(n_warps, 0);
    std::array<std::array<uint64_t, kWarp>, 2> nan_lanes;
    for (auto& buf : nan_lanes) buf.fill(~uint64_t(0));  // NaN: a lane that read a value nobody wrote shows
    b.lane_values.assign(n_warps, nan_lanes);
    std::fill(b.smem.begin(), b.smem.end(), 0xff);  // NaN as float: a read before any write shows
    b.live = int(n_threads);
    b.at_sync = 0;
    b.current = -1;
    for (size_t i = 0; i < n_threads; i++) {
        Thread& t = b.threads[i];
        t.idx = {unsigned(i % block_dim.x), unsigned(i / block_dim.x % block_dim.y),
                 unsigned(i / (size_t(block_dim.x) * block_dim.y))};
        t.warp = int(i / kWarp);
        t.lane = int(i % kWarp);
        b.warp_live[size_t(t.warp)]++;
        // Stacks grow down from their top. Tops staggered by 64 bytes: stacks that all start at the same offset
        // of a page compete for the same few cache sets, which made every switch a cache miss.
        const size_t skew = (i % 61) * 64;
        t.ctx = make_fcontext((*b.stacks)[i].get() + kStackBytes - skew, kStackBytes - skew, entry);
    }
    block_idx = bidx;
    g_epoch++;
    b.order.resize(n_threads);
    for (size_t i = 0; i < n_threads; i++) b.order[i] = g_order == Order::Reverse ? n_threads - 1 - i : i;
    if (g_order == Order::Shuffled) std::shuffle(b.order.begin(), b.order.end(), g_rng);
    b.pos = n_threads - 1;  // so that the first pick is order[0]
    // The scheduler runs a thread; threads pass the CPU among themselves and come back here when one
    // finishes, fails, or finds no other thread ready.
    while (b.live > 0 && b.error.empty()) {
        size_t pos = 0;
        if (!next_ready(b, pos)) {
            b.error = deadlock(b);
            break;
        }
        enter(b, pos);
        jump(b.threads[size_t(b.current)].ctx, &b.scheduler);
    }
    if (!b.error.empty())
        b.error = "block (" + std::to_string(bidx.x) + "," + std::to_string(bidx.y) + "," + std::to_string(bidx.z) +
                  ") thread (" + std::to_string(thread_idx.x) + "," + std::to_string(thread_idx.y) + "," +
                  std::to_string(thread_idx.z) + "): " + b.error;
}

}  // namespace

void set_order(Order order, uint32_t seed) {
    g_order = order;
    g_rng.seed(seed);
}

uint64_t block_epoch() { return g_epoch; }

void check_launch(dim3 grid, dim3 block, size_t dynamic_smem_bytes) {
    const size_t n_threads = size_t(block.x) * block.y * block.z;
    // CUDA's launch limits (any GPU since compute capability 3.0), checked as cudaLaunchKernel would.
    ENSURE(n_threads >= 1 && n_threads <= 1024 && block.z <= 64,
           "emu: invalid configuration argument: block (", block.x, ",", block.y, ",", block.z, ")");
    ENSURE(grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.y <= 65535 && grid.z <= 65535 && grid.x <= 2147483647u,
           "emu: invalid configuration argument: grid (", grid.x, ",", grid.y, ",", grid.z, ")");
    ENSURE(dynamic_smem_bytes <= kMaxDynamicSmem, "emu: ", dynamic_smem_bytes,
           " bytes of dynamic shared memory (the limit without opting in: ", kMaxDynamicSmem, ")");
}

void set_submit_hook(SubmitHook hook) { g_submit = hook; }

void submit(cudaStream_t stream, std::function<void()> op) {
    if (g_submit)
        g_submit(stream, std::move(op));
    else
        op();
}

void run_grid(dim3 grid, dim3 block, size_t dynamic_smem_bytes, const std::function<void()>& body) {
    ENSURE(g_block == nullptr, "emu: a kernel launched from inside a kernel");
    check_launch(grid, block, dynamic_smem_bytes);
    const size_t n_threads = size_t(block.x) * block.y * block.z;
    Block b;
    b.body = &body;
    b.smem.resize(dynamic_smem_bytes);
    // Stacks outlive the launch: allocating (and so touching) 1024 of them per launch would cost more than
    // the kernels. Never freed: a device thread (cudart_emu.cpp) may still run a kernel as the process exits.
    static std::vector<std::unique_ptr<char[]>>& stacks = *new std::vector<std::unique_ptr<char[]>>;
    while (stacks.size() < n_threads) stacks.push_back(std::make_unique_for_overwrite<char[]>(kStackBytes));
    b.stacks = &stacks;
    grid_dim = grid;
    block_dim = block;
    g_block = &b;
    // Blocks in the order too: a kernel whose result depends on which block runs first is wrong on a GPU.
    std::vector<uint3> blocks;
    blocks.reserve(size_t(grid.x) * grid.y * grid.z);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) blocks.push_back(uint3{x, y, z});
    if (g_order == Order::Reverse) std::reverse(blocks.begin(), blocks.end());
    if (g_order == Order::Shuffled) std::shuffle(blocks.begin(), blocks.end(), g_rng);
    for (const uint3& bidx : blocks) {
        run_block(b, bidx, n_threads);
        if (!b.error.empty()) break;
    }
    g_block = nullptr;
    ENSURE(b.error.empty(), "emu: kernel launch grid (", grid.x, ",", grid.y, ",", grid.z, ") block (", block.x, ",",
           block.y, ",", block.z, "): ", b.error);
}

void syncthreads() {
    Thread& t = me();
    t.state = State::AtSync;
    g_block->at_sync++;
    release(*g_block, size_t(t.warp));
    yield();
}

namespace {
// Every lane of the warp writes its value, then reads lane src_of(lane)'s (its own when out of range).
template <class SrcOf>
uint64_t shuffle(const char* name, unsigned mask, uint64_t bits, int width, SrcOf src_of) {
    if (width != kWarp) fail(std::string(name) + ": width " + std::to_string(width) + " (the emulation has only 32)");
    Thread& t = me();
    auto& values = g_block->lane_values[size_t(t.warp)][size_t(t.shfl_parity)];
    t.shfl_parity ^= 1;
    values[size_t(t.lane)] = bits;
    wait_warp(mask);  // every lane has written its value
    const int src = src_of(t.lane);
    return src >= 0 && src < kWarp ? values[size_t(src)] : bits;
}
}  // namespace

uint64_t shfl_xor_bits(unsigned mask, uint64_t bits, int lane_mask, int width) {
    return shuffle("__shfl_xor_sync", mask, bits, width, [&](int lane) { return lane ^ lane_mask; });
}

uint64_t shfl_idx_bits(unsigned mask, uint64_t bits, int src_lane, int width) {
    return shuffle("__shfl_sync", mask, bits, width, [&](int) { return src_lane % kWarp; });
}

void* dynamic_smem_base() { return g_block->smem.empty() ? nullptr : g_block->smem.data(); }

}  // namespace ls::emu
