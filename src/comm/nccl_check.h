// NCCL_CALL(x): the NCCL member of the CUDA_CALL/CUBLAS_CALL family (backend/cuda_check.h). A failed call
// throws ls::Error naming the call, file and line with NCCL's message; fail() adds the rank.
#pragma once
#include <nccl.h>

#include "core/check.h"

#define NCCL_CALL(x)                                                                                       \
    do {                                                                                                   \
        ncclResult_t ls_nr_ = (x);                                                                         \
        if (ls_nr_ != ncclSuccess && ls_nr_ != ncclInProgress)                                             \
            ::ls::raise_call_failed(#x, ::ls::cat(ncclGetErrorString(ls_nr_), " (", ncclGetLastError(nullptr), \
                                                  ")").c_str(), __FILE__, __LINE__);                       \
    } while (0)
