#include "comm/mpi_communicator.h"

#include <chrono>
#include <limits>

#include "comm/mpi_wait.h"

namespace ls {

const char* collective_name(CollectiveKind k) {
    switch (k) {
        case CollectiveKind::AllReduce: return "all_reduce";
        case CollectiveKind::AllGather: return "all_gather";
        case CollectiveKind::Gather: return "gather";
        case CollectiveKind::Broadcast: return "broadcast";
        case CollectiveKind::SendRecv: return "send_recv";
        case CollectiveKind::kCount: break;
    }
    return "?";
}

namespace {

// Half-precision tensors travel as 16-bit words; MPI cannot sum them (the staged communicator widens them).
MPI_Datatype mpi_type(DType t, bool for_sum = false) {
    switch (t) {
        case DType::F32: return MPI_FLOAT;
        case DType::I32: return MPI_INT32_T;
        case DType::I64: return MPI_INT64_T;
        case DType::F16:
        case DType::BF16:
            ENSURE(!for_sum, "MPI communicator: no sum of ", dtype_name(t), " tensors");
            return MPI_UINT16_T;
    }
    raise("MPI communicator: unknown dtype");
}

int count_of(const Tensor& t) {
    ENSURE(t.numel() <= std::numeric_limits<int>::max(), "MPI communicator: ", t.numel(), " elements is too many");
    return int(t.numel());
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string group_name) : comm_(comm), name_(std::move(group_name)) {
    MPI_CALL(MPI_Comm_rank(comm_, &rank_));
    MPI_CALL(MPI_Comm_size(comm_, &size_));
}

void MpiCommunicator::all_reduce_sum(const Tensor& x) {
    if (size_ == 1) return;
    TimedCall t(stats_[size_t(CollectiveKind::AllReduce)], x.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Iallreduce(MPI_IN_PLACE, x.data, count_of(x), mpi_type(x.dtype, true), MPI_SUM, comm_, &req));
    wait_request(req, cat("all-reduce (", name_, ")").c_str());
}

void MpiCommunicator::all_gather(const Tensor& out, const Tensor& in) {
    ENSURE(out.numel() == in.numel() * size_, "all_gather: output of ", out.numel(), " for ", size_, " × ",
           in.numel());
    TimedCall t(stats_[size_t(CollectiveKind::AllGather)], in.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Iallgather(in.data, count_of(in), mpi_type(in.dtype), out.data, count_of(in), mpi_type(out.dtype),
                            comm_, &req));
    wait_request(req, cat("all-gather (", name_, ")").c_str());
}

void MpiCommunicator::gather(const Tensor& out, const Tensor& in, int root) {
    ENSURE(rank_ != root || out.numel() == in.numel() * size_, "gather: output of ", out.numel(), " for ", size_,
           " × ", in.numel());
    TimedCall t(stats_[size_t(CollectiveKind::Gather)], in.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Igather(in.data, count_of(in), mpi_type(in.dtype), rank_ == root ? out.data : nullptr, count_of(in),
                         mpi_type(in.dtype), root, comm_, &req));
    wait_request(req, cat("gather (", name_, ")").c_str());
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
    if (size_ == 1) return;
    TimedCall t(stats_[size_t(CollectiveKind::Broadcast)], x.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Ibcast(x.data, count_of(x), mpi_type(x.dtype), root, comm_, &req));
    wait_request(req, cat("broadcast (", name_, ")").c_str());
}

void MpiCommunicator::send(const Tensor& x, int dst) {
    TimedCall t(stats_[size_t(CollectiveKind::SendRecv)], x.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Isend(x.data, count_of(x), mpi_type(x.dtype), dst, 0, comm_, &req));
    wait_request(req, cat("send to rank ", dst, " (", name_, ")").c_str());
}

void MpiCommunicator::recv(const Tensor& x, int src) {
    TimedCall t(stats_[size_t(CollectiveKind::SendRecv)], x.nbytes());
    MPI_Request req;
    MPI_CALL(MPI_Irecv(x.data, count_of(x), mpi_type(x.dtype), src, 0, comm_, &req));
    wait_request(req, cat("recv from rank ", src, " (", name_, ")").c_str());
}

}  // namespace ls
