#include "comm/nccl_communicator.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "backend/cuda_check.h"
#include "comm/control_channel.h"
#include "comm/mpi_wait.h"
#include "comm/nccl_bootstrap.h"
#include "comm/nccl_check.h"

namespace ls {

namespace {

ncclDataType_t nccl_type(DType t) {
    switch (t) {
        case DType::F32: return ncclFloat32;
        case DType::F16: return ncclFloat16;
        case DType::BF16: return ncclBfloat16;
        case DType::I32: return ncclInt32;
        case DType::I64: return ncclInt64;
    }
    raise("NCCL communicator: unknown dtype");
}

// NCCL refuses two ranks of one communicator on one GPU ("Duplicate GPU detected") deep inside init; say it
// first, in our words, naming both ranks and the way out.
void check_one_rank_per_gpu(MPI_Comm group, const std::string& group_name, int device) {
    char bus[32] = {0}, host[64] = {0};
    CUDA_CALL(cudaDeviceGetPCIBusId(bus, sizeof bus, device));
    gethostname(host, sizeof host - 1);
    // The bus id first: all_gather_strings cuts long names.
    const std::vector<std::string> all = all_gather_strings(cat(bus, " on ", host), group);
    for (size_t a = 0; a < all.size(); a++)
        for (size_t b = a + 1; b < all.size(); b++)
            ENSURE(all[a] != all[b], "ranks ", a, " and ", b, " of the ", group_name, " both use GPU ", all[a],
                   ": NCCL cannot put two ranks of one communicator on the same GPU. Run one rank per GPU "
                   "(-np at most the GPUs per node times the nodes), or use --comm mpi to share a GPU");
}

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm group, std::string group_name, cudaStream_t stream, int device)
    : stream_(stream), name_(std::move(group_name)) {
    MPI_CALL(MPI_Comm_rank(group, &rank_));
    MPI_CALL(MPI_Comm_size(group, &size_));
    check_one_rank_per_gpu(group, name_, device);
    const ncclUniqueId id = nccl_unique_id(group);
    // Non-blocking init: a peer that never arrives leaves us polling under the watchdog, not stuck in NCCL.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    NCCL_CALL(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    settle(cat("ncclCommInitRank (", name_, ")").c_str());
    ncclComm_t c = comm_;
    std::shared_ptr<bool> alive = alive_;
    add_abort_cleanup([c, alive] {  // releases kernels stuck in a collective before MPI_Abort
        if (*alive) ncclCommAbort(c);
    });
    wait_check_ = add_wait_check([this]() -> std::string {
        ncclResult_t state = ncclSuccess;
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess || state == ncclSuccess || state == ncclInProgress)
            return "";
        return cat("NCCL (", name_, ") reports an asynchronous error: ", ncclGetErrorString(state), " (",
                   ncclGetLastError(comm_), ")");
    });
}

NcclCommunicator::~NcclCommunicator() {
    remove_wait_check(wait_check_);
    for (Timing& t : pending_) events_.insert(events_.end(), {t.start, t.stop});
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    *alive_ = false;  // the abort cleanup must not touch it any more
    if (!comm_) return;
    // A non-blocking communicator finalizes in the background: wait for it (a destructor cannot throw, so with
    // a bound of its own), then free it; one that will not finish is aborted instead.
    ncclResult_t state = ncclCommFinalize(comm_);
    for (int ms = 0; state == ncclInProgress && ms < 10000; ms++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
    }
    if (state == ncclSuccess)
        ncclCommDestroy(comm_);
    else
        ncclCommAbort(comm_);
}

void NcclCommunicator::settle(const char* what) {
    ncclResult_t state = ncclInProgress;
    wait_until([&] {
        NCCL_CALL(ncclCommGetAsyncError(comm_, &state));
        return state != ncclInProgress;
    }, what);
    ENSURE(state == ncclSuccess, what, ": ", ncclGetErrorString(state), " (", ncclGetLastError(comm_), ")");
}

NcclCommunicator::Timing& NcclCommunicator::begin(CollectiveKind kind, size_t bytes) {
    stats_[size_t(kind)].calls++;
    stats_[size_t(kind)].bytes += int64_t(bytes);
    auto event = [&] {
        if (events_.empty()) {
            cudaEvent_t e;
            CUDA_CALL(cudaEventCreate(&e));
            return e;
        }
        cudaEvent_t e = events_.back();
        events_.pop_back();
        return e;
    };
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    CUDA_CALL(cudaStreamIsCapturing(stream_, &capturing));
    static Timing none{};
    if (capturing != cudaStreamCaptureStatusNone) return none;  // graphs: no events inside a capture
    if (pending_.size() >= 512) harvest(false);
    Timing& t = pending_.emplace_back(Timing{event(), event(), kind});
    CUDA_CALL(cudaEventRecord(t.start, stream_));
    return t;
}

// Settle first: on a non-blocking communicator a call that returned ncclInProgress (a lazy connection setup)
// enqueues its kernel only once the state is ncclSuccess, and the stop event must come after that kernel.
void NcclCommunicator::end(Timing& t) {
    settle(name_.c_str());
    if (t.start) CUDA_CALL(cudaEventRecord(t.stop, stream_));
}

// Reads the timings of finished calls, oldest first (all of them, waiting, when `wait`), and recycles their
// events.
void NcclCommunicator::harvest(bool wait) {
    size_t i = 0;
    for (; i < pending_.size(); i++) {
        Timing& t = pending_[i];
        if (wait) {
            CUDA_CALL(cudaEventSynchronize(t.stop));
        } else {
            if (!CUDA_QUERY(cudaEventQuery(t.stop))) break;
        }
        float ms = 0;
        CUDA_CALL(cudaEventElapsedTime(&ms, t.start, t.stop));
        stats_[size_t(t.kind)].seconds += ms / 1000.0;
        events_.insert(events_.end(), {t.start, t.stop});
    }
    pending_.erase(pending_.begin(), pending_.begin() + long(i));
}

void NcclCommunicator::sync_stats() { harvest(true); }

void NcclCommunicator::all_reduce_sum(const Tensor& x) {
    if (size_ == 1) return;
    Timing& t = begin(CollectiveKind::AllReduce, x.nbytes());
    NCCL_CALL(ncclAllReduce(x.data, x.data, size_t(x.numel()), nccl_type(x.dtype), ncclSum, comm_, stream_));
    end(t);
}

void NcclCommunicator::all_gather(const Tensor& out, const Tensor& in) {
    ENSURE(out.numel() == in.numel() * size_, "all_gather: output of ", out.numel(), " for ", size_, " × ",
           in.numel());
    Timing& t = begin(CollectiveKind::AllGather, in.nbytes());
    NCCL_CALL(ncclAllGather(in.data, out.data, size_t(in.numel()), nccl_type(in.dtype), comm_, stream_));
    end(t);
}

// NCCL has no gather: the root receives one block from every other rank inside one group call.
void NcclCommunicator::gather(const Tensor& out, const Tensor& in, int root) {
    ENSURE(rank_ != root || out.numel() == in.numel() * size_, "gather: output of ", out.numel(), " for ", size_,
           " × ", in.numel());
    Timing& t = begin(CollectiveKind::Gather, in.nbytes());
    const size_t n = size_t(in.numel()), bytes = in.nbytes();
    NCCL_CALL(ncclGroupStart());
    if (rank_ == root) {
        for (int r = 0; r < size_; r++) {
            char* dst = static_cast<char*>(out.data) + size_t(r) * bytes;
            if (r == root)
                CUDA_CALL(cudaMemcpyAsync(dst, in.data, bytes, cudaMemcpyDeviceToDevice, stream_));
            else
                NCCL_CALL(ncclRecv(dst, n, nccl_type(in.dtype), r, comm_, stream_));
        }
    } else {
        NCCL_CALL(ncclSend(in.data, n, nccl_type(in.dtype), root, comm_, stream_));
    }
    NCCL_CALL(ncclGroupEnd());
    end(t);
}

void NcclCommunicator::broadcast(const Tensor& x, int root) {
    if (size_ == 1) return;
    Timing& t = begin(CollectiveKind::Broadcast, x.nbytes());
    NCCL_CALL(ncclBroadcast(x.data, x.data, size_t(x.numel()), nccl_type(x.dtype), root, comm_, stream_));
    end(t);
}

void NcclCommunicator::send(const Tensor& x, int dst) {
    Timing& t = begin(CollectiveKind::SendRecv, x.nbytes());
    NCCL_CALL(ncclSend(x.data, size_t(x.numel()), nccl_type(x.dtype), dst, comm_, stream_));
    end(t);
}

void NcclCommunicator::recv(const Tensor& x, int src) {
    Timing& t = begin(CollectiveKind::SendRecv, x.nbytes());
    NCCL_CALL(ncclRecv(x.data, size_t(x.numel()), nccl_type(x.dtype), src, comm_, stream_));
    end(t);
}

}  // namespace ls
