// The frame of the MPI test programs (mpirun -np N PROGRAM): every rank counts the expectations it saw fail,
// and the job passes when no rank saw one. Each program stays one file and links nothing more.
#pragma once
#include <mpi.h>

#include <cstdio>
#include <string>

namespace ls::mpi_check {

inline int g_failures = 0;  // of this rank

struct World {
    int rank = 0, size = 1;
};

inline World init(int* argc, char*** argv) {
    MPI_Init(argc, argv);
    World w;
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    return w;
}

inline void expect(bool ok, const std::string& what, int rank) {
    if (!ok) {
        std::printf("FAIL (rank %d): %s\n", rank, what.c_str());
        g_failures++;
    }
}

// Sums the failures of every rank; rank 0 prints "OK: summary" or "FAIL: summary"; MPI ends. The exit code.
inline int finish(const World& w, const std::string& summary) {
    int failures = 0;
    MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (w.rank == 0) std::printf("%s: %s\n", failures ? "FAIL" : "OK", summary.c_str());
    MPI_Finalize();
    return failures ? 1 : 0;
}

}  // namespace ls::mpi_check
