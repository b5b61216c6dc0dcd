// The checking macros for CUDA runtime and cuBLAS calls (CUDA builds only): a failed call throws ls::Error
// "<call> failed at file:line: <library message>", which main() turns into fail() and MPI_Abort.
// NCCL_CALL lives with the NCCL communicator, the only file that includes nccl.h.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/check.h"

#define CUDA_CALL(x)                                                                        \
    do {                                                                                    \
        cudaError_t ls_err_ = (x);                                                          \
        if (ls_err_ != cudaSuccess)                                                         \
            ::ls::raise_call_failed(#x, cudaGetErrorString(ls_err_), __FILE__, __LINE__);   \
    } while (0)

#define CUBLAS_CALL(x)                                                                      \
    do {                                                                                    \
        cublasStatus_t ls_st_ = (x);                                                        \
        if (ls_st_ != CUBLAS_STATUS_SUCCESS)                                                \
            ::ls::raise_call_failed(#x, cublasGetStatusString(ls_st_), __FILE__, __LINE__); \
    } while (0)

// After a <<<...>>> launch: a bad configuration (grid too large, too much shared memory) is only reported
// by cudaGetLastError, and would otherwise surface at some later, unrelated call.
#define LAUNCH_CHECK() CUDA_CALL(cudaGetLastError())

namespace ls {
// A query's answer: true when done, false when not ready; any other result throws naming the query (a
// collective whose peer failed surfaces here). "Not ready" is no error, but the runtime may keep it as the
// last error, which the next LAUNCH_CHECK would then report: it is cleared, and nothing else.
inline bool cuda_query_done(cudaError_t e, const char* call, const char* file, int line) {
    if (e == cudaErrorNotReady) {
        if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
        return false;
    }
    if (e != cudaSuccess) raise_call_failed(call, cudaGetErrorString(e), file, line);
    return true;
}
}  // namespace ls

#define CUDA_QUERY(x) ::ls::cuda_query_done((x), #x, __FILE__, __LINE__)
