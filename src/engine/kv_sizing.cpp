#include "engine/kv_sizing.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <thread>

#include "comm/mpi_wait.h"
#include "core/log.h"
#include "engine/device_step.h"
#include "model/memory_plan.h"

namespace ls {

namespace {

// The largest step the scheduler may send (model/memory_plan.h: profile_seq_lens), every sequence sampled, with
// block tables as wide as the longest sequence needs (a decode step may carry one). Each rank builds it alike;
// no broadcast is needed.
StepPlan profile_plan(const KvSizingConfig& c) {
    const std::vector<int> lens = profile_seq_lens(c.max_model_len, c.max_num_batched_tokens, c.max_num_seqs);
    StepPlan p;
    p.query_start.push_back(0);
    p.max_blocks = (c.max_model_len + c.block_size - 1) / c.block_size;  // ≥ every len's blocks
    int block = 0;
    for (int len : lens) {
        p.seq_ids.push_back(p.n_seqs());
        const int first_block = block, blocks = (len + c.block_size - 1) / c.block_size;
        for (int pos = 0; pos < len; pos++) {
            p.token_ids.push_back(pos % 100 + 4);
            p.positions.push_back(pos);
            p.slot_mapping.push_back(first_block * c.block_size + pos);
        }
        for (int b = 0; b < p.max_blocks; b++) p.block_tables.push_back(b < blocks ? first_block + b : 0);
        block += blocks;
        p.query_start.push_back(p.n_tokens());
        p.sample_rows.push_back(p.n_tokens() - 1);
    }
    return p;
}

}  // namespace

KvSizing size_kv_cache(const ProcessGrid& grid, Backend& be, OptModel& model, const KvSizingConfig& c) {
    KvSizing s;
    s.total_memory = be.total_memory();
    s.weight_bytes = model.weight_bytes().total();
    const int n_layers = model.stage().layers.size();  // this stage's layers only
    s.bytes_per_token = kv_bytes_per_token(n_layers, model.d_local(), be.compute_dtype());
    s.block_bytes = s.bytes_per_token * c.block_size;
    s.rounding = std::max<int64_t>(0, be.memory_usage().allocated - s.weight_bytes - model.activation_bytes());
    s.reserved = c.reserved_bytes;

    {  // The profiling pass, with a cache just large enough for it.
        const StepPlan plan = profile_plan(c);
        int n_blocks = 0;
        for (int32_t b : plan.block_tables) n_blocks = std::max(n_blocks, b + 1);
        KvCache scratch = make_kv_cache(be, n_layers, n_blocks, c.block_size, model.d_local());
        DeviceStep dev;
        be.reset_peak();
        const int64_t before = be.memory_usage().allocated;
        upload_plan(be, plan, c.block_size, dev);
        model.forward(dev.inputs, scratch);
        be.synchronize();
        s.activation_peak = model.activation_bytes() + (be.memory_usage().peak - before);
    }
    // The scratch cache is in no term below and its blocks fit nothing later: cached, they would sit on the
    // device beyond the budget. vLLM empties torch's cache here too.
    be.empty_cache();
    // vLLM's rule: gpu_memory_utilization of the whole device, less what weights, activations and everything
    // else on the device (its "non-torch" memory) take. Ranks sharing the device measure once every one of
    // them holds its weights and profiling peak: what is left is the device's, and each takes its share.
    {  // every rank, so the collective matches where only some ranks share a device
        MPI_Request req;
        MPI_CALL(MPI_Ibarrier(grid.world_comm, &req));
        wait_request(req, "barrier before KV sizing");
    }
    s.used_elsewhere = be.memory_used_elsewhere();
    s.kv_budget = (int64_t(c.gpu_memory_utilization * s.total_memory) - s.weight_bytes - s.activation_peak -
                   s.used_elsewhere - s.rounding - s.reserved) / c.ranks_per_device;
    // The cache is a K and a V tensor per layer of n_blocks × block_size rows: the most blocks whose tensors,
    // rounded up as the backend allocates them, fit the budget.
    const int64_t tensors = 2 * int64_t(n_layers), tensor_block_bytes = s.block_bytes / tensors;
    int64_t lo = 0, hi = std::max<int64_t>(0, s.kv_budget / s.block_bytes);  // hi: the count without rounding
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (tensors * be.alloc_bytes(mid * tensor_block_bytes) <= s.kv_budget) lo = mid; else hi = mid - 1;
    }
    s.n_blocks_local = lo;
    // Slots are int32 in the step plan.
    s.n_blocks_local = std::min<int64_t>(s.n_blocks_local, INT32_MAX / c.block_size);
    if (c.num_blocks_override > 0) s.n_blocks_local = c.num_blocks_override;

    int64_t n_min = 0;
    MPI_CALL(MPI_Allreduce(&s.n_blocks_local, &n_min, 1, MPI_INT64_T, MPI_MIN, grid.world_comm));
    ENSURE(s.n_blocks_local >= 1, grid.worker_name(), ": no memory left for the KV cache: ",
           c.gpu_memory_utilization, " × ", format_bytes(s.total_memory), " − weights ", format_bytes(double(s.weight_bytes)),
           " − activation peak ", format_bytes(double(s.activation_peak)), " is less than one block (",
           s.block_bytes, " bytes); raise --device-memory or --gpu-memory-utilization, or lower "
           "--max-num-batched-tokens");
    if (n_min < 1) std::this_thread::sleep_for(std::chrono::seconds(2));  // let the rank that ran out say why
    ENSURE(n_min >= 1, grid.worker_name(), ": another rank has no memory left for the KV cache (see its message)");
    s.n_blocks = int(n_min);
    return s;
}

}  // namespace ls
