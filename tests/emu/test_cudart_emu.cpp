// The emulated CUDA runtime keeps the parts of CUDA's contract that host code can get wrong (cudart_emu.cpp's
// header): work runs only when the host synchronizes, capture refuses what a GPU refuses, copies are checked
// against their kind, cuBLAS and NCCL check their buffers, and a failed kernel is sticky. Built and run only in
// LOCKSTEP_CUDA=EMU builds (ctest: emu.runtime). The sticky-fault case runs last: it poisons the process.
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "cuda_emu.h"

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

TEST_CASE("emu cuBLAS and NCCL: buffers must be device memory; one-rank communicators only") {
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

    ncclUniqueId id;
    REQUIRE(ncclGetUniqueId(&id) == ncclSuccess);
    ncclComm_t two = nullptr;
    CHECK(ncclCommInitRank(&two, 2, id, 0) == ncclInvalidUsage);
    CHECK(std::string(ncclGetLastError(nullptr)).find("--comm mpi") != std::string::npos);
    ncclComm_t one_rank = nullptr;
    REQUIRE(ncclCommInitRank(&one_rank, 1, id, 0) == ncclSuccess);
    CHECK(ncclAllReduce(d, d, 4, ncclFloat32, ncclSum, one_rank, nullptr) == ncclSuccess);
    CHECK(ncclAllReduce(host.data(), host.data(), 4, ncclFloat32, ncclSum, one_rank, nullptr) ==
          ncclInvalidArgument);
    ncclCommDestroy(one_rank);
    cudaFree(d);
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
