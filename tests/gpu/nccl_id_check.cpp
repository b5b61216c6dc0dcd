// NCCL's bootstrap without a GPU: on a tp × pp grid, every rank asks for the unique id of its TP group and of
// its PP group (made by the group's rank 0, MPI-broadcast on the group's communicator). The ranks of one
// group must hold the same id, and different groups different ids. usage: mpirun -np TP·PP nccl_id_check TP PP
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "comm/nccl_bootstrap.h"
#include "comm/process_grid.h"

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    const int tp = argc > 1 ? std::atoi(argv[1]) : 2, pp = argc > 2 ? std::atoi(argv[2]) : 1;
    int failed = 0;
    try {
        ls::ProcessGrid g = ls::make_process_grid(tp, pp);
        const std::string ids = ls::nccl_id_hex(ls::nccl_unique_id(g.tp_comm), 32) + " " +
                                ls::nccl_id_hex(ls::nccl_unique_id(g.pp_comm), 32);
        char mine[160] = {0};
        std::snprintf(mine, sizeof mine, "%s", ids.c_str());
        std::string all(sizeof mine * size_t(g.world_size), '\0');
        MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, MPI_COMM_WORLD);
        if (g.is_driver()) {
            std::map<int, std::string> tp_id, pp_id;  // group → the id its first member holds
            for (int r = 0; r < g.world_size; r++) {
                const std::string s(&all[size_t(r) * sizeof mine]);
                const std::string t = s.substr(0, 64), p = s.substr(65);
                const ls::GridCoords c = ls::grid_coords(r, tp);
                std::printf("world rank %d (tp %d, pp %d): TP-group id %s…  PP-group id %s…\n", r, c.tp_rank,
                            c.pp_rank, t.substr(0, 16).c_str(), p.substr(0, 16).c_str());
                for (auto [group, id, name] : {std::tuple{c.pp_rank, t, "TP"}, std::tuple{c.tp_rank, p, "PP"}}) {
                    auto& seen = std::string(name) == "TP" ? tp_id : pp_id;
                    if (!seen.count(group)) seen[group] = id;
                    if (seen[group] != id) {
                        std::printf("FAIL: world rank %d holds a different id than its %s group's first member\n",
                                    r, name);
                        failed = 1;
                    }
                }
            }
            for (auto* m : {&tp_id, &pp_id}) {
                std::set<std::string> distinct;
                for (auto& [group, id] : *m) distinct.insert(id);
                if (distinct.size() != m->size()) {
                    std::printf("FAIL: two groups received the same id\n");
                    failed = 1;
                }
            }
            std::printf("%s: %d TP groups and %d PP groups, %s\n", failed ? "FAIL" : "OK", int(tp_id.size()),
                        int(pp_id.size()), ls::nccl_version_string().c_str());
        }
        ls::free_process_grid(g);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        failed = 1;
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed;
}
