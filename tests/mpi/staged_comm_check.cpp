// The staged communicator (--comm mpi on a device backend) checked on the CPU backend, whose memory it copies
// like device memory: all-reduce of F32, F16 and BF16 (summed in fp32 on the host), all-gather, gather,
// broadcast and send/recv, against the values every rank can compute. usage: mpirun -np N staged_comm_check
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cpu_backend.h"
#include "mpi_check.h"
#include "parallel/staged_communicator.h"

using namespace ls;
using mpi_check::expect;

namespace {
std::vector<float> download(Backend& be, const Tensor& t) {
    std::vector<float> out(size_t(t.numel()));
    Buffer f = be.alloc(DType::F32, {t.numel()});
    be.convert(f, t);
    be.copy_to_host(out.data(), f);
    return out;
}
Buffer upload(Backend& be, DType dt, const std::vector<float>& v) {
    Buffer f = be.alloc(DType::F32, {int64_t(v.size())});
    be.copy_from_host(f, v.data());
    Buffer b = be.alloc(dt, {int64_t(v.size())});
    be.convert(b, f);
    return b;
}
}  // namespace

int main(int argc, char** argv) {
    const mpi_check::World w = mpi_check::init(&argc, &argv);
    const int rank = w.rank, size = w.size;
    CpuBackend be(1, 1e9);
    StagedCommunicator comm(MPI_COMM_WORLD, "world", be);
    const int n = 37;
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        std::vector<float> mine(n);
        for (int i = 0; i < n; i++) mine[size_t(i)] = float(rank + 1) * 0.25f + float(i);
        Buffer x = upload(be, dt, mine);
        comm.all_reduce_sum(x);
        const std::vector<float> got = download(be, x);
        bool ok = true;
        for (int i = 0; i < n; i++) {
            float want = 0;
            for (int r = 0; r < size; r++) want += float(r + 1) * 0.25f + float(i);
            const float tol = dt == DType::F32 ? 1e-5f : dt == DType::F16 ? 2e-3f : 1.6e-2f;
            ok = ok && std::fabs(got[size_t(i)] - want) <= tol * std::fabs(want) + 1e-6f;
        }
        expect(ok, dt == DType::F32 ? "all_reduce F32" : dt == DType::F16 ? "all_reduce F16" : "all_reduce BF16", rank);

        Buffer in = upload(be, dt, std::vector<float>(4, float(rank)));
        Buffer all = be.alloc(dt, {int64_t(4 * size)});
        comm.all_gather(all, in);
        std::vector<float> g = download(be, all);
        for (int r = 0; r < size; r++) expect(g[size_t(4 * r)] == float(r) && g[size_t(4 * r + 3)] == float(r), "all_gather", rank);

        Buffer gathered = be.alloc(dt, {int64_t(4 * size)});
        comm.gather(gathered, in, 0);
        if (rank == 0) {
            g = download(be, gathered);
            for (int r = 0; r < size; r++) expect(g[size_t(4 * r + 1)] == float(r), "gather", rank);
        }
        Buffer b = upload(be, dt, std::vector<float>(5, float(rank == 0 ? 7 : -1)));
        comm.broadcast(b, 0);
        expect(download(be, b)[4] == 7.0f, "broadcast", rank);
        if (size > 1) {
            Buffer m = upload(be, dt, std::vector<float>(3, float(rank * 10)));
            if (rank == 0) comm.send(m, 1);
            if (rank == 1) {
                comm.recv(m, 0);
                expect(download(be, m)[2] == 0.0f, "send/recv", rank);
            }
        }
    }
    comm.sync_stats();
    expect(comm.stats(CollectiveKind::AllReduce).calls == (size > 1 ? 3 : 0), "stats count the staged calls", rank);
    // The caller's bytes (F32, F16, BF16 tensors of n), not the fp32 copies that went over MPI.
    expect(comm.stats(CollectiveKind::AllReduce).bytes == (size > 1 ? n * (4 + 2 + 2) : 0),
           "stats count the device tensor's bytes", rank);
    return mpi_check::finish(w, "staged communicator at np " + std::to_string(size) + ", F32/F16/BF16");
}
