#include "comm/nccl_bootstrap.h"

#include <cstdio>

#include "comm/nccl_check.h"

namespace ls {

ncclUniqueId nccl_unique_id(MPI_Comm group) {
    int rank = 0;
    MPI_CALL(MPI_Comm_rank(group, &rank));
    ncclUniqueId id{};
    if (rank == 0) NCCL_CALL(ncclGetUniqueId(&id));
    MPI_CALL(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, group));
    return id;
}

std::string nccl_id_hex(const ncclUniqueId& id, int n_bytes) {
    std::string s;
    char buf[4];
    for (int i = 0; i < n_bytes && i < int(sizeof id.internal); i++) {
        std::snprintf(buf, sizeof buf, "%02x", unsigned(static_cast<unsigned char>(id.internal[i])));
        s += buf;
    }
    return s;
}

std::string nccl_version_string() {
    int v = 0;
    NCCL_CALL(ncclGetVersion(&v));
    return cat(v / 10000, ".", (v % 10000) / 100, ".", v % 100);
}

}  // namespace ls
