// How many KV blocks each rank carves from its memory, as vLLM does it:
//   budget = gpu_memory_utilization × device memory − weights − activation peak − memory used elsewhere
//            − the allocator's rounding − buffers made after sizing (the CUDA graphs' inputs)
//   blocks = the most whose K/V tensors, as the backend allocates them, fit the budget (on the CPU:
//            floor(budget / bytes of one block on this rank)), then the minimum over all ranks
// Ranks sharing one device split its budget, measured once all of them have loaded.
// The activation peak is measured: one profiling forward pass at --max-num-batched-tokens, counting what the
// backend allocates on top of the weights. On the CPU backend the "device" is a host-memory budget
// (--device-memory), so the arithmetic of a GPU can be replayed without one.
#pragma once
#include "comm/process_grid.h"
#include "model/opt.h"

namespace ls {

struct KvSizingConfig {
    int max_num_batched_tokens = 2048;
    int max_model_len = 2048;
    int max_num_seqs = 256;
    int block_size = 16;
    double gpu_memory_utilization = 0.9;
    int num_blocks_override = 0;
    // Ranks of this host on the same device (two ranks on one GPU over --comm mpi): the device's budget is
    // split among them, each counting the others' weights and activations as memory used elsewhere.
    int ranks_per_device = 1;
    // Device bytes allocated after sizing that no profiled step holds: the CUDA graphs' own step inputs.
    int64_t reserved_bytes = 0;
};

struct KvSizing {
    double total_memory = 0;     // the device's bytes
    int64_t weight_bytes = 0;
    int64_t activation_peak = 0;
    int64_t used_elsewhere = 0;  // device memory not from the backend's alloc(): CUDA context, other processes
    // What the allocator holds beyond the bytes of the weights and the workspace: its rounding (CUDA blocks are
    // multiples of 512 B or 2 MiB), and any other buffer made while loading. 0 on the CPU.
    int64_t rounding = 0;
    int64_t reserved = 0;        // KvSizingConfig::reserved_bytes
    int64_t kv_budget = 0;       // what is left for the cache on this rank
    int64_t bytes_per_token = 0; // K and V of one token on this rank, all layers
    int64_t block_bytes = 0;
    int64_t n_blocks_local = 0;  // what this rank could hold
    int n_blocks = 0;            // the minimum over all ranks: what every rank allocates
};

KvSizing size_kv_cache(const ProcessGrid& grid, Backend& be, OptModel& model, const KvSizingConfig& cfg);

}  // namespace ls
