// The CUDA runtime calls of src/ on the CPU, for LOCKSTEP_CUDA=EMU builds: "device" memory is host memory,
// a stream is a queue of host closures (kernels through cuda_emu.h, copies, cuBLAS and NCCL calls), and graphs
// are recorded closures. What it keeps of CUDA's contract, so that host code wrong on a GPU is wrong here too:
//   - Work is asynchronous: a queued op runs only at a synchronization of its stream (cudaStreamSynchronize,
//     a query, an event, a synchronous copy, cudaFree), and a query runs a few ops at a time and answers
//     cudaErrorNotReady until the stream is drained. Reading a result without synchronizing reads stale data.
//   - cudaMalloc'd memory starts as NaN bytes, not zeros.
//   - Stream capture (cudaStreamCaptureModeThreadLocal/Global) records instead of running, and refuses what a
//     GPU refuses during capture: cudaMalloc, cudaFree, cudaMallocHost, synchronous copies, and synchronizing
//     or querying the capturing stream. The capture is then invalidated, as on a GPU.
//   - Errors are "last errors" as in CUDA: cudaGetLastError returns and clears one.
// Size of the emulated device: LOCKSTEP_EMU_GPU_MIB (default 512) MiB, LOCKSTEP_EMU_GPUS (default 1) devices.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "device_emu.h"

struct CUevent_st {
    bool timing = true;
    uint64_t pending = 0;  // ops of its stream to run before it completes (0: complete)
    cudaStream_t stream = nullptr;
    double at = 0;  // host seconds when it completed
};

struct CUstream_st {
    std::deque<std::function<void()>> queue;
    uint64_t done = 0, queued = 0;  // ops run, ops ever queued
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    std::vector<std::function<void()>> captured;
};

struct CUgraph_st {
    std::vector<std::function<void()>> nodes;
};
struct CUgraphExec_st {
    std::vector<std::function<void()>> nodes;
};

namespace {

constexpr int kOpsPerQuery = 4;  // a query advances the stream this far: pollers see cudaErrorNotReady

std::recursive_mutex g_mu;  // NCCL's and the watchdog's threads may call in: one call at a time
cudaError_t g_last = cudaSuccess;
int g_device = 0;
size_t g_used = 0;
std::map<void*, size_t> g_device_blocks;
std::map<void*, size_t> g_host_blocks;
CUstream_st g_legacy;  // stream 0
std::vector<CUstream_st*> g_streams{&g_legacy};

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
    g_last = e;
    return e;
}

CUstream_st* stream_of(cudaStream_t s) { return s ? s : &g_legacy; }

bool capturing() {
    for (CUstream_st* s : g_streams)
        if (s->capture == cudaStreamCaptureStatusActive) return true;
    return false;
}

// A call CUDA forbids during capture: invalidates every active capture (the emulation has one thread).
cudaError_t capture_violation() {
    for (CUstream_st* s : g_streams)
        if (s->capture == cudaStreamCaptureStatusActive) s->capture = cudaStreamCaptureStatusInvalidated;
    return fail(cudaErrorStreamCaptureUnsupported);
}

// Runs up to `max_ops` queued ops of s (all when negative). A kernel that fails leaves a sticky error, as a
// device fault does: it is printed with the emulation's reason, since no error code says as much.
void run(CUstream_st* s, int64_t max_ops = -1) {
    for (int64_t i = 0; !s->queue.empty() && (max_ops < 0 || i < max_ops); i++) {
        std::function<void()> op = std::move(s->queue.front());
        s->queue.pop_front();
        try {
            op();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "CUDA emulation: a queued operation failed: %s\n", e.what());
            g_last = cudaErrorLaunchFailure;
        }
        s->done++;
    }
}

void run_all() {
    for (CUstream_st* s : g_streams) run(s);
}

}  // namespace

namespace ls::emu {

void enqueue(cudaStream_t stream, std::function<void()> op) {
    std::lock_guard lock(g_mu);
    CUstream_st* s = stream_of(stream);
    if (s->capture == cudaStreamCaptureStatusActive) {
        s->captured.push_back(std::move(op));
    } else if (s->capture == cudaStreamCaptureStatusInvalidated) {
        // dropped: the capture fails at its end
    } else {
        s->queue.push_back(std::move(op));
        s->queued++;
    }
}

namespace {
const bool g_hooked = (set_submit_hook(&enqueue), true);
}

}  // namespace ls::emu

using ls::emu::enqueue;

// --- Errors and devices ----------------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
    std::lock_guard lock(g_mu);
    const cudaError_t e = g_last;
    if (e != cudaErrorLaunchFailure) g_last = cudaSuccess;  // a device fault stays (sticky)
    return e;
}

cudaError_t cudaPeekAtLastError() { return g_last; }

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
    *count = device_count();
    return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    g_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
    *device = g_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
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
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    std::snprintf(bus, size_t(len), "0000:%02x:00.0", device + 1);
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
    std::lock_guard lock(g_mu);
    if (capturing()) return capture_violation();
    run_all();
    return g_last == cudaErrorLaunchFailure ? g_last : cudaSuccess;
}

// --- Memory ------------------------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** p, size_t bytes) {
    std::lock_guard lock(g_mu);
    if (capturing()) return capture_violation();
    const size_t rounded = (bytes + 255) / 256 * 256;
    if (g_used + rounded > capacity()) return fail(cudaErrorMemoryAllocation);
    *p = std::aligned_alloc(256, rounded ? rounded : 256);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    std::memset(*p, 0xff, rounded);  // NaN as float: memory nobody wrote shows
    g_device_blocks[*p] = rounded;
    g_used += rounded;
    return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
    std::lock_guard lock(g_mu);
    if (!p) return cudaSuccess;
    if (capturing()) return capture_violation();
    auto it = g_device_blocks.find(p);
    if (it == g_device_blocks.end()) return fail(cudaErrorInvalidValue);
    run_all();  // cudaFree synchronizes the device
    g_used -= it->second;
    g_device_blocks.erase(it);
    std::free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
    std::lock_guard lock(g_mu);
    if (capturing()) return capture_violation();
    *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    g_host_blocks[*p] = bytes;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
    std::lock_guard lock(g_mu);
    if (!p) return cudaSuccess;
    if (capturing()) return capture_violation();
    if (!g_host_blocks.erase(p)) return fail(cudaErrorInvalidValue);
    run_all();
    std::free(p);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
    std::lock_guard lock(g_mu);
    *total = capacity();
    *free_bytes = capacity() - g_used;
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t stream) {
    if (n) enqueue(stream, [=] { std::memmove(dst, src, n); });
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
    std::lock_guard lock(g_mu);
    if (capturing()) return capture_violation();
    run_all();  // the legacy stream waits for all others
    std::memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
    if (n) enqueue(stream, [=] { std::memset(p, value, n); });
    return cudaSuccess;
}

// --- Streams -----------------------------------------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
    std::lock_guard lock(g_mu);
    *stream = new CUstream_st;
    g_streams.push_back(*stream);
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard lock(g_mu);
    if (!stream) return fail(cudaErrorInvalidResourceHandle);
    run(stream);  // CUDA finishes the queued work of a destroyed stream
    std::erase(g_streams, stream);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    std::lock_guard lock(g_mu);
    CUstream_st* s = stream_of(stream);
    if (s->capture != cudaStreamCaptureStatusNone) return capture_violation();
    run(s);
    return g_last == cudaErrorLaunchFailure ? g_last : cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
    std::lock_guard lock(g_mu);
    CUstream_st* s = stream_of(stream);
    if (s->capture != cudaStreamCaptureStatusNone) return capture_violation();
    run(s, kOpsPerQuery);
    if (g_last == cudaErrorLaunchFailure) return g_last;
    return s->queue.empty() ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
    std::lock_guard lock(g_mu);
    CUstream_st* s = stream_of(stream);
    if (!stream || s->capture != cudaStreamCaptureStatusNone) return fail(cudaErrorIllegalState);
    s->capture = cudaStreamCaptureStatusActive;
    s->captured.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    std::lock_guard lock(g_mu);
    CUstream_st* s = stream_of(stream);
    *graph = nullptr;
    if (s->capture == cudaStreamCaptureStatusNone) return fail(cudaErrorIllegalState);
    const bool ok = s->capture == cudaStreamCaptureStatusActive;
    s->capture = cudaStreamCaptureStatusNone;
    if (!ok) {
        s->captured.clear();
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = new CUgraph_st{std::move(s->captured)};
    s->captured.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
    std::lock_guard lock(g_mu);
    *status = stream_of(stream)->capture;
    return cudaSuccess;
}

// --- Events ------------------------------------------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
    *event = new CUevent_st;
    (*event)->timing = !(flags & cudaEventDisableTiming);
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    std::lock_guard lock(g_mu);
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    CUstream_st* s = stream_of(stream);
    event->stream = s;
    enqueue(stream, [event] { event->at = now(); });
    // Complete once the stream has run this many ops; recorded in a capture, it is a node of the graph.
    if (s->capture == cudaStreamCaptureStatusNone) event->pending = s->queued;
    return cudaSuccess;
}

namespace {
bool event_done(cudaEvent_t e) { return e->pending == 0 || e->stream->done >= e->pending; }

cudaError_t event_wait(cudaEvent_t event, int64_t max_ops) {
    std::lock_guard lock(g_mu);
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    if (event->stream && event->stream->capture != cudaStreamCaptureStatusNone) return capture_violation();
    if (!event_done(event)) run(event->stream, max_ops < 0 ? int64_t(event->pending - event->stream->done) : max_ops);
    if (g_last == cudaErrorLaunchFailure) return g_last;
    return event_done(event) ? cudaSuccess : cudaErrorNotReady;
}
}  // namespace

cudaError_t cudaEventQuery(cudaEvent_t event) { return event_wait(event, kOpsPerQuery); }

cudaError_t cudaEventSynchronize(cudaEvent_t event) { return event_wait(event, -1); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    std::lock_guard lock(g_mu);
    if (!start || !end || !start->timing || !end->timing) return fail(cudaErrorInvalidResourceHandle);
    if (!event_done(start) || !end || !event_done(end)) return fail(cudaErrorNotReady);
    *ms = float((end->at - start->at) * 1e3);
    return cudaSuccess;
}

// --- Graphs ------------------------------------------------------------------------------------------------------

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{graph->nodes};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return fail(cudaErrorInvalidResourceHandle);
    for (const auto& node : exec->nodes) enqueue(stream, node);
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}
