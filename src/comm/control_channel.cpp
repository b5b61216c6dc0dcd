#include "comm/control_channel.h"

#include "comm/mpi_wait.h"
#include "core/check.h"

namespace ls {

void broadcast_ints(std::vector<int32_t>& v, MPI_Comm comm, int root, const char* what) {
    int64_t n = int64_t(v.size());
    MPI_Request req;
    MPI_CALL(MPI_Ibcast(&n, 1, MPI_INT64_T, root, comm, &req));
    wait_request(req, what);
    v.resize(size_t(n));
    if (n == 0) return;
    MPI_CALL(MPI_Ibcast(v.data(), int(n), MPI_INT32_T, root, comm, &req));
    wait_request(req, what);
}

namespace {
constexpr int kStringLen = 64;

std::vector<std::string> split_strings(const std::vector<char>& all, int n) {
    std::vector<std::string> out;
    for (int r = 0; r < n; r++) out.emplace_back(&all[size_t(r * kStringLen)]);
    return out;
}
}  // namespace

std::vector<std::string> gather_strings(const std::string& mine, MPI_Comm comm, int root) {
    int rank = 0, size = 1;
    MPI_CALL(MPI_Comm_rank(comm, &rank));
    MPI_CALL(MPI_Comm_size(comm, &size));
    char buf[kStringLen] = {0};
    mine.copy(buf, kStringLen - 1);
    std::vector<char> all(rank == root ? size_t(kStringLen * size) : 0);
    MPI_CALL(MPI_Gather(buf, kStringLen, MPI_CHAR, all.data(), kStringLen, MPI_CHAR, root, comm));
    return split_strings(all, rank == root ? size : 0);
}

std::vector<std::string> all_gather_strings(const std::string& mine, MPI_Comm comm) {
    int size = 1;
    MPI_CALL(MPI_Comm_size(comm, &size));
    char buf[kStringLen] = {0};
    mine.copy(buf, kStringLen - 1);
    std::vector<char> all(size_t(kStringLen * size));
    MPI_CALL(MPI_Allgather(buf, kStringLen, MPI_CHAR, all.data(), kStringLen, MPI_CHAR, comm));
    return split_strings(all, size);
}

void AsyncSend::start(const void* data, size_t bytes, MPI_Comm comm, int dst, int tag) {
    ENSURE(req_ == MPI_REQUEST_NULL, "AsyncSend::start with a send still in flight");
    buf_.assign(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
    MPI_CALL(MPI_Isend(buf_.data(), int(bytes), MPI_BYTE, dst, tag, comm, &req_));
}

void AsyncSend::wait(const char* what) {
    if (req_ != MPI_REQUEST_NULL) wait_request(req_, what);
    req_ = MPI_REQUEST_NULL;
}

std::vector<int32_t> recv_ints(MPI_Comm comm, int src, int tag, const char* what) {
    MPI_Status st;
    wait_probe(comm, src, tag, st, what);
    int bytes = 0;
    MPI_CALL(MPI_Get_count(&st, MPI_BYTE, &bytes));
    std::vector<int32_t> v(size_t(bytes) / 4);
    MPI_CALL(MPI_Recv(v.data(), bytes, MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE));
    return v;
}

void recv_bytes(void* data, size_t bytes, MPI_Comm comm, int src, int tag, const char* what) {
    MPI_Request req;
    MPI_CALL(MPI_Irecv(data, int(bytes), MPI_BYTE, src, tag, comm, &req));
    wait_request(req, what);
}

}  // namespace ls
