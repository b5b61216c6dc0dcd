// The emulated CUDA runtime keeps the parts of CUDA's contract that host code can get wrong (cudart_emu.cpp's
// header): work runs only when the host synchronizes (a communication op is reached unasked), capture refuses
// what a GPU refuses, copies are checked against their kind, cuBLAS and NCCL check their buffers, NCCL's init
// is collective and refuses two ranks on one device, and a failed kernel is sticky. Built and run only in
// LOCKSTEP_CUDA=EMU builds (ctest: emu.runtime). The sticky-fault case runs last: it poisons the process.
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cuda_emu.h"
#include "device_emu.h"

namespace {

__global__ void deadlock_kernel() {
    if (threadIdx.x < 16) __syncthreads();
    else (void)__shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

float first_float(const void* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}

}  // namespace

TEST_CASE("emu runtime: queued work runs only when the host synchronizes; memory starts as NaN") {
    cudaStream_t s;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    void* d = nullptr;
    REQUIRE(cudaMalloc(&d, 64) == cudaSuccess);
    CHECK(std::isnan(first_float(d)));
    for (int i = 0; i < 8; i++) REQUIRE(cudaMemsetAsync(d, 0, 64, s) == cudaSuccess);
    CHECK(std::isnan(first_float(d)));  // nothing ran yet
    CHECK(cudaStreamQuery(s) == cudaErrorNotReady);  // a query advances a few ops, not all
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(first_float(d) == 0.0f);
    CHECK(cudaStreamQuery(s) == cudaSuccess);

    cudaEvent_t a, b;
    REQUIRE(cudaEventCreate(&a) == cudaSuccess);
    REQUIRE(cudaEventCreate(&b) == cudaSuccess);
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaErrorInvalidResourceHandle);  // never recorded
    CHECK(cudaGetLastError() == cudaErrorInvalidResourceHandle);
    CHECK(cudaGetLastError() == cudaSuccess);  // returned once, then cleared
    REQUIRE(cudaEventRecord(a, s) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(d, 1, 64, s) == cudaSuccess);
    REQUIRE(cudaEventRecord(b, s) == cudaSuccess);
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaErrorNotReady);
    cudaGetLastError();
    CHECK(cudaEventSynchronize(b) == cudaSuccess);
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaSuccess);
    CHECK(ms >= 0.0f);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaFree(d);
    cudaStreamDestroy(s);
}

TEST_CASE("emu runtime: copies are checked against their kind and the device blocks") {
    void* d = nullptr;
    REQUIRE(cudaMalloc(&d, 256) == cudaSuccess);
    std::vector<char> h(256);
    CHECK(cudaMemcpy(d, h.data(), 256, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(h.data(), d, 256, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // reversed
    CHECK(cudaMemcpy(d, h.data(), 257, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past the block
    CHECK(cudaMemsetAsync(h.data(), 0, 16, nullptr) == cudaErrorInvalidValue);            // host memory
    cudaGetLastError();
    CHECK(cudaFree(h.data()) == cudaErrorInvalidValue);
    cudaGetLastError();
    cudaFree(d);
}

TEST_CASE("emu runtime: capture records, replays, and refuses what a GPU refuses") {
    cudaStream_t s;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    void* d = nullptr;
    REQUIRE(cudaMalloc(&d, 64) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(d, 0, 64, s) == cudaSuccess);
    cudaGraph_t g = nullptr;
    REQUIRE(cudaStreamEndCapture(s, &g) == cudaSuccess);
    CHECK(std::isnan(first_float(d)));  // captured, not run
    cudaGraphExec_t exec = nullptr;
    REQUIRE(cudaGraphInstantiate(&exec, g, 0) == cudaSuccess);
    REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(first_float(d) == 0.0f);

    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    void* more = nullptr;
    CHECK(cudaMalloc(&more, 64) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaMemsetAsync(d, 0, 64, s) == cudaErrorStreamCaptureInvalidated);  // the capture is dead
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);
    cudaGraph_t bad = nullptr;
    CHECK(cudaStreamEndCapture(s, &bad) == cudaErrorStreamCaptureInvalidated);
    CHECK(bad == nullptr);
    cudaGetLastError();
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);  // usable again after the capture ended
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaFree(d);
    cudaStreamDestroy(s);
}

TEST_CASE("emu cuBLAS: buffers must be device memory, types a GPU supports") {
    cublasHandle_t h;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    float* d = nullptr;
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&d), 4 * sizeof(float)) == cudaSuccess);
    std::vector<float> host(4, 1.0f);
    const float one = 1.0f, zero = 0.0f;
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, d, CUDA_R_32F, 2, d, CUDA_R_32F, 2, &zero, d,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, host.data(), CUDA_R_32F, 2, d, CUDA_R_32F, 2,
                       &zero, d, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, d, CUDA_R_32F, 2, d, CUDA_R_16F, 2, &zero, d,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    cublasDestroy(h);

    cudaFree(d);
}

namespace {
bool eventually(const std::function<bool()>& done) {  // within 10 s
    for (int i = 0; i < 10000 && !done(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return done();
}

ncclResult_t async_state(ncclComm_t c) {
    ncclResult_t st = ncclInternalError;
    ncclCommGetAsyncError(c, &st);
    return st;
}
}  // namespace

TEST_CASE("emu runtime: a communication op is reached without the host synchronizing; a query does not wait on it") {
    cudaStream_t s;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    void* d = nullptr;
    REQUIRE(cudaMalloc(&d, 64) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(d, 0, 64, s) == cudaSuccess);  // before the op: runs on the way to it
    std::atomic<bool> reached{false}, release{false};
    ls::emu::enqueue(s, [&] {
        reached = true;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a peer that is late
    }, true);
    REQUIRE(cudaMemsetAsync(d, 1, 64, s) == cudaSuccess);  // after it: waits for the host, as ever
    CHECK(eventually([&] { return reached.load(); }));
    CHECK(first_float(d) == 0.0f);
    CHECK(cudaStreamQuery(s) == cudaErrorNotReady);  // answers while the op waits on its peer
    release = true;
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    unsigned char b = 0;
    std::memcpy(&b, d, 1);
    CHECK(b == 1);
    cudaFree(d);
    cudaStreamDestroy(s);
}

// Two ranks in this one process (a communicator's ranks are normally processes of their own): each on its
// own emulated device (LOCKSTEP_EMU_GPUS=2, set by ctest), as NCCL requires.
TEST_CASE("emu NCCL: init is collective, ranks on one device are refused, send/recv carry data, buffers checked") {
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclUniqueId id;
    REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
    ncclComm_t c0 = nullptr, c1 = nullptr;
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK(ncclCommInitRankConfig(&c0, 2, id, 0, &config) == ncclInProgress);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(async_state(c0) == ncclInProgress);  // rank 1 has not come
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    ncclCommInitRankConfig(&c1, 2, id, 1, &config);
    CHECK(eventually([&] { return async_state(c0) != ncclInProgress && async_state(c1) != ncclInProgress; }));
    REQUIRE(async_state(c0) == ncclSuccess);
    REQUIRE(async_state(c1) == ncclSuccess);

    float *d0 = nullptr, *d1 = nullptr;
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&d0), 4 * sizeof(float)) == cudaSuccess);
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&d1), 4 * sizeof(float)) == cudaSuccess);
    const std::vector<float> sent{1.5f, -2.0f, 3.25f, 4.0f};
    REQUIRE(cudaMemcpy(d1, sent.data(), 16, cudaMemcpyHostToDevice) == cudaSuccess);
    // One device thread runs both ranks here: in a group, where the send is buffered and goes first (outside
    // one, a send waits for its receiver, which would wait behind it on this thread).
    REQUIRE(ncclGroupStart() == ncclSuccess);
    CHECK(ncclRecv(d0, 4, ncclFloat32, 1, c0, nullptr) == ncclSuccess);
    CHECK(ncclSend(d1, 4, ncclFloat32, 0, c1, nullptr) == ncclSuccess);
    REQUIRE(ncclGroupEnd() == ncclSuccess);
    std::vector<float> got(4);
    REQUIRE(cudaMemcpy(got.data(), d0, 16, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(got == sent);
    std::vector<float> host(4);
    CHECK(ncclSend(host.data(), 4, ncclFloat32, 0, c1, nullptr) == ncclInvalidArgument);
    CHECK(std::string(ncclGetLastError(nullptr)).find("outside device memory") != std::string::npos);
    CHECK(ncclSend(d1, 4, ncclFloat32, 2, c1, nullptr) == ncclInvalidArgument);  // no rank 2
    ncclCommDestroy(c0);
    ncclCommDestroy(c1);

    ncclUniqueId id2;
    REQUIRE(ncclGetUniqueId(&id2) == ncclSuccess);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    ncclCommInitRankConfig(&c0, 2, id2, 0, &config);
    ncclCommInitRankConfig(&c1, 2, id2, 1, &config);  // the same device
    CHECK(eventually([&] { return async_state(c0) != ncclInProgress; }));
    CHECK(async_state(c0) == ncclInvalidUsage);
    CHECK(std::string(ncclGetLastError(nullptr)).find("Duplicate GPU detected") != std::string::npos);
    ncclCommAbort(c0);
    ncclCommAbort(c1);
    cudaFree(d0);
    cudaFree(d1);
}

TEST_CASE("emu runtime: a failed kernel is a sticky fault, reported by the next synchronization (runs last)") {
    cudaStream_t s;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    ls::emu::Launch(1, 64, 0, s)(deadlock_kernel);  // queued: the deadlock shows when it runs
    CHECK(cudaStreamSynchronize(s) == cudaErrorLaunchFailure);
    void* d = nullptr;
    CHECK(cudaMalloc(&d, 64) == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);  // sticky: not cleared
}
