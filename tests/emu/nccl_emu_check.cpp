// The emulated NCCL between processes (nccl_emu.cpp), checked on its own under mpirun: one rank per process,
// each on its own emulated device, the unique id MPI-broadcast as src/comm does.
//   nccl_emu_check collectives: all-reduce (fp32, fp16, bf16, int64: every rank gets the same, exact sums),
//     all-gather, broadcast from the last rank, and a send/recv chain 0 → 1 → ... outside a group. Prints OK.
//   nccl_emu_check mismatch: rank 0 calls an all-reduce where the others call an all-gather of the same
//     bytes: every rank's stream must fail, naming both calls (NCCL itself would hang or give garbage).
//   nccl_emu_check graph_refs: an all-reduce captured into a CUDA graph replays right; then ncclCommAbort
//     must wait while an executable of that graph exists (as NCCL's does), and return once it is destroyed.
// Built in LOCKSTEP_CUDA=EMU builds only (ctest there: emu.nccl.*; LOCKSTEP_EMU_GPUS ≥ ranks).
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/dtype.h"

namespace {

int g_rank = 0;

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "[rank %d] FAIL: %s\n", g_rank, why.c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::abort();
}

void check(bool ok, const std::string& what) {
    if (!ok) die(what);
}

template <class T>
T* device_copy(const std::vector<T>& host) {
    void* d = nullptr;
    check(cudaMalloc(&d, host.size() * sizeof(T)) == cudaSuccess, "cudaMalloc");
    check(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess, "copy in");
    return static_cast<T*>(d);
}

template <class T>
std::vector<T> host_copy(const T* d, size_t n) {
    std::vector<T> host(n);
    check(cudaMemcpy(host.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess, "copy out");
    return host;
}

ncclComm_t init(int rank, int size) {
    ncclUniqueId id{};
    if (rank == 0) check(ncclGetUniqueId(&id) == ncclSuccess, "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t comm = nullptr;
    const ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
    check(r == ncclSuccess || r == ncclInProgress, "ncclCommInitRankConfig");
    ncclResult_t state = ncclInProgress;
    for (int ms = 0; state == ncclInProgress && ms < 20000; ms++) {
        ncclCommGetAsyncError(comm, &state);
        if (state == ncclInProgress) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    check(state == ncclSuccess, std::string("init: ") + ncclGetLastError(comm));
    return comm;
}

void collectives(ncclComm_t comm, int rank, int size) {
    const size_t n = 64;
    // fp32 and int64 sums of small integers are exact; fp16 and bf16 ones too, below 256.
    std::vector<float> f(n);
    std::vector<int64_t> q(n);
    std::vector<uint16_t> h(n), b(n);
    for (size_t i = 0; i < n; i++) {
        f[i] = float(rank + 1) * float(i);
        q[i] = int64_t(rank + 1) * int64_t(i) * 1000000007LL;
        h[i] = ls::f32_to_f16(float(rank + 1) * float(i % 16));
        b[i] = ls::f32_to_bf16(float(rank + 1) * float(i % 16));
    }
    float* df = device_copy(f);
    int64_t* dq = device_copy(q);
    uint16_t* dh = device_copy(h);
    uint16_t* db = device_copy(b);
    check(ncclAllReduce(df, df, n, ncclFloat32, ncclSum, comm, nullptr) == ncclSuccess, "all-reduce f32");
    check(ncclAllReduce(dq, dq, n, ncclInt64, ncclSum, comm, nullptr) == ncclSuccess, "all-reduce i64");
    check(ncclAllReduce(dh, dh, n, ncclFloat16, ncclSum, comm, nullptr) == ncclSuccess, "all-reduce f16");
    check(ncclAllReduce(db, db, n, ncclBfloat16, ncclSum, comm, nullptr) == ncclSuccess, "all-reduce bf16");
    const float ranks_sum = float(size * (size + 1) / 2);
    const std::vector<float> rf = host_copy(df, n);
    const std::vector<int64_t> rq = host_copy(dq, n);
    const std::vector<uint16_t> rh = host_copy(dh, n), rb = host_copy(db, n);
    for (size_t i = 0; i < n; i++) {
        check(rf[i] == ranks_sum * float(i), "f32 sum at " + std::to_string(i));
        check(rq[i] == int64_t(ranks_sum) * int64_t(i) * 1000000007LL, "i64 sum at " + std::to_string(i));
        check(ls::f16_to_f32(rh[i]) == ranks_sum * float(i % 16), "f16 sum at " + std::to_string(i));
        check(ls::bf16_to_f32(rb[i]) == ranks_sum * float(i % 16), "bf16 sum at " + std::to_string(i));
    }

    // All-gather: rank r's block is r + 0.5.
    float* mine = device_copy(std::vector<float>(n, float(rank) + 0.5f));
    float* all = device_copy(std::vector<float>(n * size_t(size), -1.0f));
    check(ncclAllGather(mine, all, n, ncclFloat32, comm, nullptr) == ncclSuccess, "all-gather");
    const std::vector<float> ra = host_copy(all, n * size_t(size));
    for (size_t i = 0; i < ra.size(); i++) check(ra[i] == float(i / n) + 0.5f, "all-gather at " + std::to_string(i));

    // Broadcast from the last rank, in place.
    float* bc = device_copy(std::vector<float>(n, float(rank)));
    check(ncclBroadcast(bc, bc, n, ncclFloat32, size - 1, comm, nullptr) == ncclSuccess, "broadcast");
    for (float v : host_copy(bc, n)) check(v == float(size - 1), "broadcast value");

    // A pipeline's chain outside any group: rank r receives from r - 1, adds its rank, sends to r + 1.
    float* x = device_copy(std::vector<float>(n, 0.0f));
    if (rank > 0) check(ncclRecv(x, n, ncclFloat32, rank - 1, comm, nullptr) == ncclSuccess, "recv");
    std::vector<float> got = host_copy(x, n);
    for (float& v : got) v += float(rank);
    check(cudaMemcpy(x, got.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "copy in");
    if (rank + 1 < size) check(ncclSend(x, n, ncclFloat32, rank + 1, comm, nullptr) == ncclSuccess, "send");
    check(cudaDeviceSynchronize() == cudaSuccess, "sync after send");
    if (rank == size - 1)
        for (float v : got) check(v == float(size * (size - 1) / 2), "chain value");
    for (void* p : {static_cast<void*>(df), static_cast<void*>(dq), static_cast<void*>(dh), static_cast<void*>(db),
                    static_cast<void*>(mine), static_cast<void*>(all), static_cast<void*>(bc), static_cast<void*>(x)})
        cudaFree(p);
}

// Every rank's stream must fail (a device fault); the emulation prints the reason on stderr.
void mismatch(ncclComm_t comm, int rank, int size) {
    float* buf = device_copy(std::vector<float>(size_t(8 * size), 1.0f));
    if (rank == 0)
        check(ncclAllReduce(buf, buf, size_t(8 * size), ncclFloat32, ncclSum, comm, nullptr) == ncclSuccess, "call");
    else
        check(ncclAllGather(buf, buf, 8, ncclFloat32, comm, nullptr) == ncclSuccess, "call");
    cudaError_t e = cudaErrorNotReady;
    for (int ms = 0; e == cudaErrorNotReady && ms < 20000; ms++) {
        e = cudaStreamQuery(nullptr);
        if (e == cudaErrorNotReady) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    check(e == cudaErrorLaunchFailure, std::string("a mismatched collective gave ") + cudaGetErrorString(e));
}

void graph_refs(ncclComm_t comm, int rank, int size) {
    const size_t n = 16;
    float* buf = device_copy(std::vector<float>(n, float(rank + 1)));
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess, "cudaStreamCreate");
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin capture");
    check(ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comm, stream) == ncclSuccess, "captured all-reduce");
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(stream, &graph) == cudaSuccess, "end capture");
    cudaGraphExec_t exec = nullptr;
    check(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess, "instantiate");
    check(cudaGraphDestroy(graph) == cudaSuccess, "graph destroy");  // the executable keeps the reference
    check(cudaGraphLaunch(exec, stream) == cudaSuccess && cudaStreamSynchronize(stream) == cudaSuccess, "replay");
    for (float v : host_copy(buf, n)) check(v == float(size * (size + 1) / 2), "replayed all-reduce value");

    std::atomic<bool> returned{false};
    std::thread aborter([&] {
        ncclCommAbort(comm);
        returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const bool waited = !returned;
    check(cudaGraphExecDestroy(exec) == cudaSuccess, "exec destroy");
    for (int ms = 0; !returned && ms < 5000; ms++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const bool released = returned;
    if (released) aborter.join(); else aborter.detach();
    check(waited, "ncclCommAbort returned while a graph that captured its all-reduce existed");
    check(released, "ncclCommAbort still waits 5 s after the last graph that captured its calls was destroyed");
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const std::string what = argc > 1 ? argv[1] : "collectives";
    check(cudaSetDevice(g_rank) == cudaSuccess, "cudaSetDevice: set LOCKSTEP_EMU_GPUS to at least the ranks");
    ncclComm_t comm = init(g_rank, size);
    if (what == "collectives")
        collectives(comm, g_rank, size);
    else if (what == "mismatch")
        mismatch(comm, g_rank, size);
    else if (what == "graph_refs")
        graph_refs(comm, g_rank, size);  // aborts the communicator
    else
        die("unknown case " + what);
    MPI_Barrier(MPI_COMM_WORLD);
    if (what != "graph_refs") ncclCommDestroy(comm);
    if (g_rank == 0) std::printf("OK: %s on %d ranks\n", what.c_str(), size);
    MPI_Finalize();
    return 0;
}
