// The NCCL calls of src/ on the CPU (LOCKSTEP_CUDA=EMU), for communicators of one rank: a TP=1 run's groups.
// Collectives are then copies queued on the stream, as NCCL's kernels would be. A communicator of more ranks
// is refused with the reason: the emulation runs each rank's "GPU" inside its own process and has no transport
// between them (multi-rank runs on the emulation use --comm mpi, as several ranks sharing one real GPU do).
#include <nccl.h>

#include <cstring>
#include <random>
#include <string>

#include "device_emu.h"

struct ncclComm {
    int nranks = 1;
};

namespace {

std::string g_last_error;

size_t type_size(ncclDataType_t t) {
    switch (t) {
        case ncclInt8: case ncclUint8: return 1;
        case ncclFloat16: case ncclBfloat16: return 2;
        case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
        default: return 8;
    }
}

ncclResult_t copy(const void* src, void* dst, size_t count, ncclDataType_t t, cudaStream_t stream) {
    const size_t bytes = count * type_size(t);
    if (bytes && (!ls::emu::is_device_memory(src, bytes) || !ls::emu::is_device_memory(dst, bytes))) {
        g_last_error = "NCCL emulation: a buffer outside device memory (cudaMalloc'd)";
        return ncclInvalidArgument;
    }
    if (bytes && src != dst) ls::emu::enqueue(stream, [=] { std::memmove(dst, src, bytes); });
    return ncclSuccess;
}

ncclResult_t init(ncclComm_t* comm, int nranks, int rank) {
    if (nranks != 1 || rank != 0) {
        g_last_error = "NCCL emulation: a communicator of " + std::to_string(nranks) +
                       " ranks; the CUDA emulation runs NCCL communicators of one rank only (use --comm mpi)";
        return ncclInvalidUsage;
    }
    *comm = new ncclComm;
    return ncclSuccess;
}

ncclResult_t only_self(ncclComm_t comm, int peer) {
    if (!comm) return ncclInvalidArgument;
    // NCCL keeps one last error per process: src/ asks ncclGetLastError(nullptr) as well.
    g_last_error = "NCCL emulation: send/recv with peer " + std::to_string(peer) + " on a communicator of one rank";
    return ncclInvalidUsage;
}

}  // namespace

ncclResult_t ncclGetVersion(int* version) {
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    std::random_device rd;
    for (char& c : id->internal) c = char(rd());
    return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId, int rank, ncclConfig_t*) {
    return init(comm, nranks, rank);
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId, int rank) {
    return init(comm, nranks, rank);
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* state) {
    if (!comm) return ncclInvalidArgument;
    *state = ncclSuccess;
    return ncclSuccess;
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) { return comm ? ncclSuccess : ncclInvalidArgument; }

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    delete comm;
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
    delete comm;
    return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t r) {
    switch (r) {
        case ncclSuccess: return "no error (NCCL emulation)";
        case ncclInvalidArgument: return "invalid argument (NCCL emulation)";
        case ncclInvalidUsage: return "invalid usage (NCCL emulation)";
        default: return "NCCL error (NCCL emulation)";
    }
}

const char* ncclGetLastError(ncclComm_t) { return g_last_error.c_str(); }

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t t, ncclRedOp_t, ncclComm_t comm,
                           cudaStream_t stream) {
    return comm ? copy(send, recv, count, t, stream) : ncclInvalidArgument;
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t t, ncclComm_t comm,
                           cudaStream_t stream) {
    return comm ? copy(send, recv, count, t, stream) : ncclInvalidArgument;
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t t, int root, ncclComm_t comm,
                           cudaStream_t stream) {
    if (!comm || root != 0) return ncclInvalidArgument;
    return copy(send, recv, count, t, stream);
}

ncclResult_t ncclSend(const void*, size_t, ncclDataType_t, int peer, ncclComm_t comm, cudaStream_t) {
    return only_self(comm, peer);
}

ncclResult_t ncclRecv(void*, size_t, ncclDataType_t, int peer, ncclComm_t comm, cudaStream_t) {
    return only_self(comm, peer);
}

ncclResult_t ncclGroupStart() { return ncclSuccess; }
ncclResult_t ncclGroupEnd() { return ncclSuccess; }
