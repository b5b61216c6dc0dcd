// The CUDA runtime calls of src/ on the CPU, for LOCKSTEP_CUDA=EMU builds: "device" memory is host memory,
// a stream is a queue of host closures (kernels through cuda_emu.h, copies, cuBLAS and NCCL calls) run by one
// device thread per process, and graphs are recorded closures. What it keeps of CUDA's contract, so that host
// code wrong on a GPU is wrong here too:
//   - Work is asynchronous, and lazy: the device runs a queued op only once the host synchronizes its stream
//     (cudaStreamSynchronize, a query, an event, a synchronous copy, cudaFree), and a query runs a few ops at a
//     time and answers cudaErrorNotReady until the stream is drained. Reading a result without synchronizing
//     reads stale data. One exception, as on a GPU: a communication op (NCCL) that peers in other processes
//     wait for is reached without the host asking, with everything queued before it.
//   - cudaMalloc'd memory starts as NaN bytes, not zeros. Copies check their kind against the pointers (a
//     "device" pointer is one inside a cudaMalloc'd block), as cuBLAS and NCCL check their buffers.
//   - Stream capture records instead of running, and refuses what a GPU refuses during capture: cudaMalloc,
//     cudaFree, cudaMallocHost, synchronous copies, and synchronizing or querying the capturing stream or an
//     event recorded into the capture. That invalidates the capture (on a GPU, the calling thread's capture
//     under cudaStreamCaptureModeThreadLocal: here, with one host thread, every capture).
//   - Errors are "last errors": cudaGetLastError returns and clears one. A failed op (an emulation check or an
//     aborted NCCL communicator, the only device faults here) is sticky: every later call returns it, and
//     queued work is dropped.
// Not kept: ordering between streams (a synchronous copy or cudaFree drains every stream, as the legacy
// default stream would; one device thread runs one op at a time, of any stream), CUDA's per-thread last error
// (one per process: src/ calls CUDA from one thread).
// Size of the emulated device: LOCKSTEP_EMU_GPU_MIB (default 512) MiB, LOCKSTEP_EMU_GPUS (default 1) devices.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_emu.h"
#include "device_emu.h"

namespace {
struct EventState {  // shared with the ops that record it, which may outlive the cudaEvent_t
    bool recorded = false, done = true;
    uint64_t generation = 0;  // of the last record: an older record's op must not complete a newer one
    uint64_t ticket = 0;      // its op's place in the stream: done once the stream has run that many ops
    double at = 0;            // host seconds when it completed
};

struct Op {
    Op() = default;
    template <class F>
    Op(F f, bool c = false) : fn(std::move(f)), comm(c) {}
    std::function<void()> fn;
    bool comm = false;  // may wait for other processes (NCCL): the device reaches it unasked
};
}  // namespace

struct CUevent_st {
    bool timing = true;
    bool in_capture = false;  // last recorded into a capture
    std::shared_ptr<EventState> st = std::make_shared<EventState>();
    cudaStream_t stream = nullptr;  // of the last record; valid while !st->done (a stream drains before it goes)
};

struct CUstream_st {
    std::deque<Op> queue;
    uint64_t enqueued = 0, ran = 0;  // ops ever queued, and run (or dropped by a fault)
    uint64_t target = 0;             // the device runs the stream's ops while ran < target
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    std::vector<Op> captured;
};

struct CUgraph_st {
    std::vector<Op> nodes;
};
struct CUgraphExec_st {
    std::vector<Op> nodes;
};

namespace {

constexpr int kOpsPerQuery = 4;  // a query advances the stream this far: pollers see cudaErrorNotReady

// What the host thread and the device thread share, under `mu`. Never destroyed: the detached device thread
// may still wait on it while the process exits.
struct Shared {
    std::mutex mu;
    std::condition_variable cv;  // work demanded, an op done, a fault
    CUstream_st legacy;          // stream 0
    std::vector<CUstream_st*> streams{&legacy};
    bool in_comm = false;  // the device is inside a communication op, which may wait on peers for long
};
Shared& S = *new Shared;
using Lock = std::unique_lock<std::mutex>;

cudaError_t g_last = cudaSuccess;
bool g_faulted = false;  // a queued op failed: every call from now on returns cudaErrorLaunchFailure
int g_device = 0;
size_t g_used = 0;
std::map<const char*, size_t> g_device_blocks;  // start → bytes
std::map<void*, size_t> g_host_blocks;

size_t capacity() {
    const char* v = std::getenv("LOCKSTEP_EMU_GPU_MIB");
    return size_t(v ? std::atoll(v) : 512) << 20;
}

int device_count() {
    const char* v = std::getenv("LOCKSTEP_EMU_GPUS");
    return v ? std::atoi(v) : 1;
}

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

cudaError_t fail(cudaError_t e) {
    g_last = g_faulted ? cudaErrorLaunchFailure : e;
    return g_last;
}

#define RETURN_IF_FAULTED() \
    if (g_faulted) return cudaErrorLaunchFailure

CUstream_st* stream_of(cudaStream_t s) { return s ? s : &S.legacy; }

bool in_capture(const CUstream_st* s) { return s->capture != cudaStreamCaptureStatusNone; }

bool capturing() {
    for (CUstream_st* s : S.streams)
        if (in_capture(s)) return true;
    return false;
}

// A call CUDA forbids during capture: invalidates the captures in progress.
cudaError_t capture_violation() {
    for (CUstream_st* s : S.streams)
        if (s->capture == cudaStreamCaptureStatusActive) s->capture = cudaStreamCaptureStatusInvalidated;
    return fail(cudaErrorStreamCaptureUnsupported);
}

// --- The device thread: runs the demanded ops of every stream, one at a time, the lock released meanwhile.

CUstream_st* demanded() {
    for (CUstream_st* s : S.streams)
        if (!s->queue.empty() && s->ran < s->target) return s;
    return nullptr;
}

// A failed op is a device fault: its reason is printed (no error code says as much), the error becomes
// sticky and all queued work is dropped.
void fault(const char* why) {
    std::fprintf(stderr, "CUDA emulation: a queued operation failed: %s\n", why);
    g_faulted = true;
    g_last = cudaErrorLaunchFailure;
    for (CUstream_st* t : S.streams) {
        t->queue.clear();
        t->ran = t->enqueued;
    }
}

[[noreturn]] void device_loop() {
    Lock lk(S.mu);
    for (;;) {
        CUstream_st* s = nullptr;
        S.cv.wait(lk, [&] { return (s = demanded()) != nullptr; });
        Op op = std::move(s->queue.front());
        s->queue.pop_front();
        S.in_comm = op.comm;
        if (op.comm) S.cv.notify_all();  // queries stop waiting for it
        lk.unlock();
        std::string failed;
        try {
            op.fn();
        } catch (const std::exception& e) {
            failed = e.what();
            if (failed.empty()) failed = "(no reason given)";
        } catch (...) {  // on this thread, anything else would end the process (std::terminate)
            failed = "an exception that is not a std::exception";
        }
        op = {};  // its captures (an NCCL communicator's last reference) go outside the lock
        lk.lock();
        S.in_comm = false;
        s->ran++;
        if (!failed.empty() && !g_faulted) fault(failed.c_str());
        S.cv.notify_all();
    }
}

void start_device() {
    static std::once_flag once;
    std::call_once(once, [] { std::thread(device_loop).detach(); });
}

// Host side, under the lock: ask the device for the ops of s before `upto`, and wait for them. Polls (a
// query) do not wait on a communication op, which may take as long as its slowest peer.
void advance(Lock& lk, CUstream_st* s, uint64_t upto, bool poll) {
    upto = std::min(upto, s->enqueued);
    if (s->ran >= upto) return;
    s->target = std::max(s->target, upto);
    S.cv.notify_all();
    S.cv.wait(lk, [&] { return g_faulted || s->ran >= upto || (poll && S.in_comm); });
}

void run(Lock& lk, CUstream_st* s) { advance(lk, s, s->enqueued, false); }

void run_all(Lock& lk) {
    for (CUstream_st* s : S.streams) run(lk, s);
}

cudaError_t enqueue_op(cudaStream_t stream, Op op) {
    RETURN_IF_FAULTED();
    CUstream_st* s = stream_of(stream);
    if (s->capture == cudaStreamCaptureStatusInvalidated) return fail(cudaErrorStreamCaptureInvalidated);
    if (s->capture == cudaStreamCaptureStatusActive) {
        s->captured.push_back(std::move(op));
        return cudaSuccess;
    }
    start_device();
    const bool comm = op.comm;
    s->queue.push_back(std::move(op));
    s->enqueued++;
    if (comm) {  // peers wait for it: the device goes on up to it, as a GPU would
        s->target = s->enqueued;
        S.cv.notify_all();
    }
    return cudaSuccess;
}

void submit_kernel(cudaStream_t stream, std::function<void()> op) { ls::emu::enqueue(stream, std::move(op)); }

const bool g_hooked = (ls::emu::set_submit_hook(&submit_kernel), true);

bool is_device(const void* p, size_t bytes) {
    auto it = g_device_blocks.upper_bound(static_cast<const char*>(p));
    if (it == g_device_blocks.begin()) return false;
    --it;
    const char* c = static_cast<const char*>(p);
    return c >= it->first && c + bytes <= it->first + it->second;
}

}  // namespace

namespace ls::emu {
void enqueue(cudaStream_t stream, std::function<void()> op, bool comm) {
    Lock lk(S.mu);
    enqueue_op(stream, Op{std::move(op), comm});
}
bool is_device_memory(const void* p, size_t bytes) {
    Lock lk(S.mu);
    return is_device(p, bytes);
}
int current_device() {
    Lock lk(S.mu);
    return g_device;
}
}  // namespace ls::emu

// --- Errors and devices ----------------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
    Lock lk(S.mu);
    const cudaError_t e = g_last;
    if (!g_faulted) g_last = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError() {
    Lock lk(S.mu);
    return g_last;
}

const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error (CUDA emulation)";
        case cudaErrorInvalidValue: return "invalid argument (CUDA emulation)";
        case cudaErrorMemoryAllocation: return "out of memory (CUDA emulation)";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected (CUDA emulation: LOCKSTEP_EMU_GPUS=0)";
        case cudaErrorInvalidDevice: return "invalid device ordinal (CUDA emulation)";
        case cudaErrorNotReady: return "device not ready (CUDA emulation)";
        case cudaErrorLaunchFailure: return "unspecified launch failure (CUDA emulation: see its message above)";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle (CUDA emulation)";
        case cudaErrorStreamCaptureUnsupported:
            return "operation not permitted when stream is capturing (CUDA emulation)";
        case cudaErrorStreamCaptureInvalidated:
            return "operation failed due to a previous error during capture (CUDA emulation)";
        case cudaErrorIllegalState: return "the operation is not permitted in the current state (CUDA emulation)";
        default: return "CUDA error (CUDA emulation)";
    }
}

const char* cudaGetErrorName(cudaError_t e) { return cudaGetErrorString(e); }

cudaError_t cudaGetDeviceCount(int* count) {
    Lock lk(S.mu);
    *count = device_count();
    return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device) {
    Lock lk(S.mu);
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    g_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    Lock lk(S.mu);
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    *prop = cudaDeviceProp{};
    std::snprintf(prop->name, sizeof prop->name, "CPU emulation of a GPU");
    prop->totalGlobalMem = capacity();
    prop->sharedMemPerBlock = 48 * 1024;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->multiProcessorCount = 1;
    prop->major = 9;
    prop->pciBusID = device + 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char* bus, int len, int device) {
    Lock lk(S.mu);
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    std::snprintf(bus, size_t(len), "0000:%02x:00.0", device + 1);
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (capturing()) return capture_violation();
    run_all(lk);
    return g_faulted ? cudaErrorLaunchFailure : cudaSuccess;
}

// --- Memory ------------------------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** p, size_t bytes) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (capturing()) return capture_violation();
    const size_t rounded = std::max<size_t>((bytes + 255) / 256 * 256, 256);
    if (g_used + rounded > capacity()) return fail(cudaErrorMemoryAllocation);
    *p = std::aligned_alloc(256, rounded);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    std::memset(*p, 0xff, rounded);  // NaN as float: memory nobody wrote shows
    g_device_blocks[static_cast<const char*>(*p)] = bytes;  // the bytes asked for: a read past them is caught
    g_used += rounded;
    return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
    Lock lk(S.mu);
    if (!p) return cudaSuccess;
    if (capturing()) return capture_violation();
    auto it = g_device_blocks.find(static_cast<const char*>(p));
    if (it == g_device_blocks.end()) return fail(cudaErrorInvalidValue);
    run_all(lk);  // cudaFree synchronizes the device
    g_used -= std::max<size_t>((it->second + 255) / 256 * 256, 256);
    g_device_blocks.erase(it);
    std::free(p);
    return g_faulted ? cudaErrorLaunchFailure : cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (capturing()) return capture_violation();
    *p = std::aligned_alloc(256, std::max<size_t>((bytes + 255) / 256 * 256, 256));
    if (!*p) return fail(cudaErrorMemoryAllocation);
    g_host_blocks[*p] = bytes;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
    Lock lk(S.mu);
    if (!p) return cudaSuccess;
    if (capturing()) return capture_violation();
    if (!g_host_blocks.erase(p)) return fail(cudaErrorInvalidValue);
    run_all(lk);
    std::free(p);
    return g_faulted ? cudaErrorLaunchFailure : cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    *total = capacity();
    *free_bytes = capacity() - g_used;
    return cudaSuccess;
}

namespace {
// What a copy of `kind` may touch: cudaErrorInvalidValue where a GPU would fault or refuse.
bool copy_ok(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
    const bool d_dev = is_device(dst, n), s_dev = is_device(src, n);
    switch (kind) {
        case cudaMemcpyHostToDevice: return d_dev && !s_dev;
        case cudaMemcpyDeviceToHost: return s_dev && !d_dev;
        case cudaMemcpyDeviceToDevice: return d_dev && s_dev;
        case cudaMemcpyHostToHost: return !d_dev && !s_dev;
        default: return true;  // cudaMemcpyDefault: any
    }
}
}  // namespace

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (n == 0) return cudaSuccess;
    if (!copy_ok(dst, src, n, kind)) return fail(cudaErrorInvalidValue);
    return enqueue_op(stream, [=] { std::memmove(dst, src, n); });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (capturing()) return capture_violation();
    if (n && !copy_ok(dst, src, n, kind)) return fail(cudaErrorInvalidValue);
    run_all(lk);  // the legacy stream waits for all others
    if (g_faulted) return cudaErrorLaunchFailure;
    std::memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (n == 0) return cudaSuccess;
    if (!is_device(p, n)) return fail(cudaErrorInvalidValue);
    return enqueue_op(stream, [=] { std::memset(p, value, n); });
}

// --- Streams -----------------------------------------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    *stream = new CUstream_st;
    S.streams.push_back(*stream);
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    Lock lk(S.mu);
    if (!stream) return fail(cudaErrorInvalidResourceHandle);
    run(lk, stream);  // CUDA finishes the queued work of a destroyed stream
    std::erase(S.streams, stream);
    delete stream;
    return g_faulted ? cudaErrorLaunchFailure : cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    CUstream_st* s = stream_of(stream);
    if (in_capture(s)) return capture_violation();
    run(lk, s);
    return g_faulted ? cudaErrorLaunchFailure : cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    CUstream_st* s = stream_of(stream);
    if (in_capture(s)) return capture_violation();
    advance(lk, s, s->ran + kOpsPerQuery, true);
    if (g_faulted) return cudaErrorLaunchFailure;
    return s->ran == s->enqueued ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    CUstream_st* s = stream_of(stream);
    if (!stream || in_capture(s)) return fail(cudaErrorIllegalState);
    s->capture = cudaStreamCaptureStatusActive;
    s->captured.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    Lock lk(S.mu);
    CUstream_st* s = stream_of(stream);
    *graph = nullptr;
    if (!in_capture(s)) return fail(cudaErrorIllegalState);
    const bool ok = s->capture == cudaStreamCaptureStatusActive;
    s->capture = cudaStreamCaptureStatusNone;
    std::vector<Op> nodes = std::move(s->captured);
    s->captured.clear();
    if (!ok) return fail(cudaErrorStreamCaptureInvalidated);
    RETURN_IF_FAULTED();
    *graph = new CUgraph_st{std::move(nodes)};
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    *status = stream_of(stream)->capture;
    return cudaSuccess;
}

// --- Events ------------------------------------------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    *event = new CUevent_st;
    (*event)->timing = !(flags & cudaEventDisableTiming);
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    Lock lk(S.mu);
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    delete event;  // its state lives on in the ops that still record it, as CUDA defers the release
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st* s = stream_of(stream);
    std::shared_ptr<EventState> st = event->st;
    event->in_capture = in_capture(s);
    // The ops run on the device thread, without the lock: they take it.
    if (event->in_capture)  // a node of the graph: it records the event at each replay
        return enqueue_op(stream, [st] {
            Lock device_lk(S.mu);
            st->generation++;
            st->recorded = st->done = true;
            st->at = now();
        });
    const uint64_t gen = st->generation + 1;
    const cudaError_t e = enqueue_op(stream, [st, gen] {
        Lock device_lk(S.mu);
        if (st->generation != gen) return;  // recorded again since: that record completes it
        st->done = true;
        st->at = now();
    });
    if (e != cudaSuccess) return e;  // the event stays as it was
    st->generation = gen;
    st->recorded = true;
    st->done = false;
    st->ticket = s->enqueued;
    event->stream = s;
    return cudaSuccess;
}

namespace {
cudaError_t event_wait(cudaEvent_t event, bool poll) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    if (event->in_capture && capturing()) return capture_violation();
    if (!event->st->done) {
        CUstream_st* s = event->stream;
        advance(lk, s, poll ? std::min(event->st->ticket, s->ran + kOpsPerQuery) : event->st->ticket, poll);
    }
    if (g_faulted) return cudaErrorLaunchFailure;
    return event->st->done ? cudaSuccess : cudaErrorNotReady;
}
}  // namespace

cudaError_t cudaEventQuery(cudaEvent_t event) { return event_wait(event, true); }

cudaError_t cudaEventSynchronize(cudaEvent_t event) { return event_wait(event, false); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (!start || !end || !start->timing || !end->timing || !start->st->recorded || !end->st->recorded)
        return fail(cudaErrorInvalidResourceHandle);
    if (!start->st->done || !end->st->done) return fail(cudaErrorNotReady);
    *ms = float((end->st->at - start->st->at) * 1e3);
    return cudaSuccess;
}

// --- Graphs ------------------------------------------------------------------------------------------------------

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{graph->nodes};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    Lock lk(S.mu);
    RETURN_IF_FAULTED();
    if (!exec) return fail(cudaErrorInvalidResourceHandle);
    for (const auto& node : exec->nodes) {
        const cudaError_t e = enqueue_op(stream, node);
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    Lock lk(S.mu);
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    Lock lk(S.mu);
    delete exec;
    return cudaSuccess;
}
