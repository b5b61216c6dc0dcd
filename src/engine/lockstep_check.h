// --check-lockstep: proof, every step, that all ranks execute the plan the driver made. Each worker hashes
// the step plan it is about to execute (FNV-1a over the plan's words and its own step count) and sends the
// hash to the driver without waiting; the driver compares each with the hash of the plan it sent. The plan
// carries the tokens the driver sampled (the decode rows' token_ids), so a rank that received different
// tokens differs here too. A mismatch ends the job naming the first rank (lowest world rank) that differs.
//
// The hashes travel to the driver instead of through a collective so that pipeline stages, which run
// different plans at the same moment, are never made to wait for each other.
#pragma once
#include <cstdint>
#include <mpi.h>

#include <deque>
#include <map>
#include <vector>

#include "comm/process_grid.h"
#include "engine/step_plan.h"

namespace ls {

uint64_t plan_hash(const StepPlan& plan, int64_t local_step);

class LockstepCheck {
public:
    explicit LockstepCheck(const ProcessGrid& g);
    ~LockstepCheck();
    // Driver: the hash of the plan it sent for `step`. Before executed() of the same step.
    void sent(int64_t step, uint64_t hash);
    // Every rank: the hash of the plan it is about to execute as its step `step` (its own count).
    void executed(int64_t step, uint64_t hash);
    // After the stop plan. Driver: receives every worker's hash of every step and compares. Workers: waits for
    // their sends. Throws ls::Error naming the first rank that differs.
    void finish(int64_t n_steps);

private:
    struct Pending {
        int64_t msg[2];  // step, hash
        MPI_Request req;
    };
    void receive_one(int src);         // driver: the next hash from world rank src (waits)
    void poll();                       // driver: take in what has arrived
    void check_failures();             // driver: throws if a mismatch is known for every rank's report of a step

    const ProcessGrid& g_;
    std::map<int64_t, uint64_t> sent_;                  // driver: step → hash of the plan it sent
    std::map<int64_t, int> n_reports_;                  // driver: step → ranks that reported it
    std::vector<int64_t> reported_;                     // driver: steps reported so far, per world rank
    std::map<int64_t, std::vector<std::pair<int, uint64_t>>> bad_;  // driver: step → (rank, hash) that differ
    std::deque<Pending> out_;                           // worker: hashes in flight to the driver
};

}  // namespace ls
