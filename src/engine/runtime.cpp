#include "engine/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "backend/openblas_env.h"
#include "comm/control_channel.h"
#include "comm/mpi_wait.h"
#include "core/log.h"
#include "engine/engine.h"
#include "model/weights.h"
#include "parallel/group_communicator.h"

namespace ls {

namespace {

std::string gather_hosts(const ProcessGrid& g) {
    std::set<std::string> hosts;
    for (const auto& h : gather_strings(g.host, g.world_comm, 0)) hosts.insert(h);
    std::string out;
    for (const auto& h : hosts) out += (out.empty() ? "" : ", ") + h;
    return out;
}

// The CPU backend's default "device": this rank's share of the host's RAM.
double host_memory_share(int local_size) {
    return double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)) / std::max(1, local_size);
}

// --dtype. On the CPU the math is fp32 and the flag sets how weights are stored: auto is float32, the numerical
// reference; float16 or bfloat16 halves the weights' memory and the bytes a decode step reads. On CUDA, auto is
// the checkpoint's dtype, except that float32 checkpoints run in float16, as vLLM does.
DType resolve_dtype(const std::string& flag, const std::string& device, const ModelConfig& cfg) {
    const std::string d = flag != "auto" ? flag
                          : device == "cpu" ? "float32"
                          : cfg.torch_dtype == "bfloat16" ? "bfloat16"
                                                          : "float16";
    if (d == "float32") return DType::F32;
    if (d == "float16") return DType::F16;
    if (d == "bfloat16") return DType::BF16;
    raise("--dtype ", flag, ": expected auto, float32, float16 or bfloat16");
}

// Ranks of this host on the same GPU, found by PCI bus id: device numbers differ between ranks whose
// CUDA_VISIBLE_DEVICES differ (Slurm's --gpus-per-task). 1 on the CPU. Every rank takes part.
int ranks_sharing_device(const ProcessGrid& g, const std::string& bus_id) {
    const std::string mine = bus_id.empty() ? "" : bus_id + " " + g.host;  // the bus id first: names are cut
    const std::vector<std::string> all = all_gather_strings(mine, g.world_comm);
    return bus_id.empty() ? 1 : int(std::count(all.begin(), all.end(), all[size_t(g.world_rank)]));
}

}  // namespace

std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

Runtime::~Runtime() {
    // Graphs that captured NCCL calls hold references on the communicators, which ncclCommDestroy waits for
    // (NCCL 2.26 and later): graphs first, then the communicators, then the backend (members, in reverse).
    graphs.reset();
    try {
        if (be) be->release_graphs();
    } catch (const std::exception& e) {
        log_worker("releasing the CUDA graphs: ", e.what());
    }
    model.reset();
    tp.reset();
    pp.reset();
    free_process_grid(grid);
}

std::unique_ptr<Runtime> prepare_runtime(const RunOptions& o) {
    auto rt = std::make_unique<Runtime>();
    rt->grid = make_process_grid(o.tensor_parallel_size, o.pipeline_parallel_size);
    // Loading reads weights at each rank's own pace: a longer leash until the loop starts.
    set_wait_timeout(o.collective_timeout * 10, "loading");
    const ProcessGrid& g = rt->grid;
    set_worker_name(g.worker_name(), g.world_rank);
    rt->hosts = gather_hosts(g);
    rt->start_time = utc_now();
    const std::string& hosts = rt->hosts;
    log0("started ", g.world_size, " ranks (tensor_parallel_size=", g.tp_size, ", pipeline_parallel_size=", g.pp_size,
         ") on ", hosts, "; lockstep ", lockstep_version(), " (", lockstep_git_commit(), ")");

    rt->cfg = load_model_config(o.model);
    const ModelConfig& cfg = rt->cfg;
    validate_tensor_parallel(cfg, g.tp_size);
    stage_layers(cfg.n_layers, g.pp_size, g.pp_rank, o.pipeline_layer_partition);  // checks the split
    rt->device = resolve_device(o.device);
    rt->comm = resolve_comm(o.comm, rt->device);
    rt->dtype = resolve_dtype(o.dtype, rt->device, cfg);
    rt->max_model_len = o.max_model_len ? o.max_model_len : cfg.max_positions;
    ENSURE(rt->max_model_len <= cfg.max_positions, "--max-model-len ", rt->max_model_len,
           " is longer than the model's max_position_embeddings ", cfg.max_positions, " (", cfg.source, ")");
    rt->max_num_batched_tokens =
        o.max_num_batched_tokens ? o.max_num_batched_tokens : std::max(rt->max_model_len, 2048);
    ENSURE(rt->max_num_batched_tokens >= o.max_num_seqs || o.max_num_batched_tokens == 0,
           "--max-num-batched-tokens ", rt->max_num_batched_tokens, " must be at least --max-num-seqs ",
           o.max_num_seqs);
    log0("model ", o.model, ": OPT, ", cfg.n_layers, " layers, hidden ", cfg.d_model, ", ", cfg.n_heads,
         " heads, ffn ", cfg.d_ff, ", vocab ", cfg.n_vocab, ", ", cfg.pre_ln ? "pre-LN" : "post-LN",
         cfg.has_projection() ? cat(", word_embed_proj_dim ", cfg.d_embed) : "", "; checkpoint dtype ",
         cfg.torch_dtype, ", compute ", rt->device == "cpu" ? "float32" : dtype_torch_name(rt->dtype),
         rt->device == "cpu" && rt->dtype != DType::F32 ? cat(" with ", dtype_torch_name(rt->dtype), " weights") : "",
         ", max_model_len ", rt->max_model_len);
    log0("device ", rt->device, ", collectives over ", rt->comm == "nccl" ? nccl_version() : "MPI",
         rt->device == "cuda" && rt->comm == "mpi" ? " (staged through host memory: --comm mpi)" : "");
    return rt;
}

void load_runtime(Runtime& rt, const RunOptions& o) {
    using Clock = std::chrono::steady_clock;
    const ProcessGrid& g = rt.grid;
    BackendConfig bc;
    bc.device = rt.device;
    rt.cpu_threads = std::max(1, int(std::thread::hardware_concurrency()) / g.local_size);
    bc.n_cpu_threads = rt.cpu_threads;
    bc.cpu_memory = o.device_memory > 0 ? o.device_memory : host_memory_share(g.local_size);
    bc.dtype = rt.dtype;
    // By local rank; with more ranks than GPUs (--comm mpi), round robin.
    if (rt.device == "cuda") bc.cuda_device = g.local_rank % cuda_device_count();
    rt.be = make_backend(bc);
    if (rt.device == "cpu")
        if (const std::string note = openblas_core_override_note(); !note.empty()) warn0(note);
    const int ranks_per_device = ranks_sharing_device(g, rt.be->device_bus_id());
    if (rt.device == "cuda") log_worker("device ", rt.be->name(), " (local rank ", g.local_rank, ")");
    rt.tp = make_group_communicator(rt.comm, g.tp_comm, "TP group", *rt.be);
    rt.pp = make_group_communicator(rt.comm, g.pp_comm, "PP group", *rt.be);
    if (o.profile_ops) {  // after the communicators: NCCL's take the CUDA backend's stream from it
        auto p = std::make_unique<ProfilingBackend>(std::move(rt.be));
        rt.profile = p.get();
        rt.be = std::move(p);
        log0("--profile-ops: every op is timed on the device; steps run eagerly, without CUDA graphs");
    }
    rt.stage = {stage_layers(rt.cfg.n_layers, g.pp_size, g.pp_rank, o.pipeline_layer_partition), g.pp_rank,
                g.pp_size, rt.pp.get()};
    if (g.pp_size > 1)
        log_worker("pipeline stage ", g.pp_rank, " of ", g.pp_size, ": layers [", rt.stage.layers.begin, ", ",
                   rt.stage.layers.end, ")", rt.stage.first() ? " + embeddings" : "",
                   rt.stage.last() ? " + final norm and LM head" : "");

    const auto t0 = Clock::now();
    rt.ckpt = std::make_unique<Checkpoint>(Checkpoint::open(o.model));
    rt.model = std::make_unique<OptModel>(rt.cfg, *rt.be, *rt.tp, rt.stage, *rt.ckpt, rt.max_num_batched_tokens);
    if (rt.profile) rt.profile->name_weights(rt.model->linear_weights());
    const double load_s = rt.load_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const WeightBytes wb = rt.model->weight_bytes();
    log_worker("model weights take ", format_bytes(double(wb.total())), " (", wb.total(), " bytes: sharded ",
               wb.sharded, " + replicated ", wb.replicated, ") on ", rt.be->name(), "; loaded in ",
               format_seconds(load_s), " s, read ", format_bytes(double(rt.ckpt->bytes_read())), " of ",
               rt.ckpt->format());

    const bool use_graphs =
        rt.device == "cuda" && rt.comm == "nccl" && g.pp_size == 1 && !o.enforce_eager && !o.profile_ops;
    const DecodeGraphsConfig gc{o.max_num_seqs, o.max_cudagraph_capture_size,
                                (rt.max_model_len + o.block_size - 1) / o.block_size, o.block_size};
    KvSizingConfig kc{rt.max_num_batched_tokens, rt.max_model_len, o.max_num_seqs, o.block_size,
                      o.gpu_memory_utilization, o.num_gpu_blocks_override, ranks_per_device,
                      use_graphs ? decode_graph_input_bytes(*rt.be, gc) : 0};
    rt.sizing = size_kv_cache(g, *rt.be, *rt.model, kc);
    rt.tp->reset_stats();  // the profiling pass is not part of serving
    rt.pp->reset_stats();
    const KvSizing& s = rt.sizing;
    log_worker("memory: device ", format_bytes(s.total_memory), " (", int64_t(s.total_memory), " bytes) × ",
               o.gpu_memory_utilization, " − weights ", s.weight_bytes, " − activation peak ", s.activation_peak,
               " bytes (profiled at ", rt.max_num_batched_tokens, " tokens)",
               s.used_elsewhere ? cat(" − used outside lockstep's buffers ", s.used_elsewhere, " bytes") : "",
               s.rounding ? cat(" − the allocator's rounding ", s.rounding, " bytes") : "",
               s.reserved ? cat(" − the CUDA graphs' inputs ", s.reserved, " bytes") : "",
               ranks_per_device > 1 ? cat(", ÷ ", ranks_per_device, " ranks on this device") : "",
               " = KV budget ", s.kv_budget, " bytes (", format_bytes(double(s.kv_budget)), ")");
    rt.kv = make_kv_cache(*rt.be, rt.stage.layers.size(), s.n_blocks, o.block_size, rt.model->d_local());
    log_worker(rt.device == "cuda" ? "# GPU blocks: " : "# KV blocks: ", s.n_blocks, " (per worker; this rank could hold ", s.n_blocks_local, "), ",
               o.block_size, " tokens × ", s.bytes_per_token, " bytes per token = ", s.block_bytes,
               " bytes per block; token capacity ", int64_t(s.n_blocks) * o.block_size, ", ",
               format_bytes(double(rt.kv.bytes())));
    if (use_graphs) {
        // What CUDA itself keeps for the graphs (and any lazy cuBLAS/NCCL buffers) is outside lockstep's
        // buffers and outside the budget: logged, as vLLM logs what its graph capture took.
        const int64_t elsewhere_before = rt.be->memory_used_elsewhere();
        rt.graphs = std::make_unique<DecodeGraphs>(*rt.be, *rt.model, rt.kv, *rt.tp, gc);
        rt.graph_memory = rt.be->memory_used_elsewhere() - elsewhere_before;
        log_worker("CUDA graphs: captured ", rt.graphs->n_graphs(), " decode batch sizes up to ", rt.graphs->largest(),
                   " in ", format_seconds(rt.graphs->capture_seconds()), " s, taking ", rt.graph_memory,
                   " bytes of device memory outside lockstep's buffers (--enforce-eager to turn them off)");
    }
    const int64_t used = rt.device_used_at_start = rt.be->device_used_bytes();
    if (rt.device == "cuda") {  // what serving starts with, against what --gpu-memory-utilization allows
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * double(used) / s.total_memory);
        log_worker("device memory in use: ", format_bytes(double(used)), " (", used, " bytes, ", pct, " of ",
                   format_bytes(s.total_memory), ", every process on it", ranks_per_device > 1 ? ", with the "
                   "other ranks of this device" : "", "); --gpu-memory-utilization ", o.gpu_memory_utilization,
                   " allows ", int64_t(o.gpu_memory_utilization * s.total_memory), " bytes",
                   rt.graph_memory > 0 ? cat(", besides the CUDA graphs' ", rt.graph_memory, " bytes") : "");
    }
    rt.tp->reset_stats();  // graph capture is not serving either
    rt.pp->reset_stats();
    if (rt.profile) rt.profile->reset();
    const double concurrency = double(int64_t(s.n_blocks) * o.block_size) / rt.max_model_len;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", concurrency);
    log0("Maximum concurrency for ", rt.max_model_len, " tokens per request: ", buf, "x");
}

}  // namespace ls

namespace ls {

void log_engine_stats(const Runtime& rt, const EngineStats& st) {
    rt.tp->sync_stats();
    rt.pp->sync_stats();
    std::string coll;
    for (int k = 0; k < int(CollectiveKind::kCount); k++) {
        const CollectiveStats& c = rt.tp->stats(CollectiveKind(k));
        if (c.calls == 0) continue;
        coll += cat(coll.empty() ? "" : ", ", collective_name(CollectiveKind(k)), " ", c.calls, " calls / ",
                    format_bytes(double(c.bytes)), " / ", format_seconds(c.seconds), " s");
    }
    log_worker(st.n_steps, " steps, ", st.n_tokens, " tokens: forward ", format_seconds(st.forward_seconds),
               " s of ", format_seconds(st.seconds), " s",
               rt.graphs ? cat(" (", st.graph_steps, " decode steps replayed a CUDA graph)") : "",
               "; TP collectives: ", coll.empty() ? "none" : coll);
    if (!rt.profile) return;
    std::string ops;
    double sum = 0;
    const OpProfile& p = rt.profile->profile();
    auto ms = [](double s) {
        char buf[32];
        if (s >= 1)
            std::snprintf(buf, sizeof buf, "%.2f s", s);
        else
            std::snprintf(buf, sizeof buf, "%.3g ms", s * 1e3);
        return std::string(buf);
    };
    for (int k = 0; k < int(OpKind::kCount); k++) {
        const OpStats& op = p[size_t(k)];
        if (op.calls == 0) continue;
        sum += op.seconds;
        ops += cat(ops.empty() ? "" : ", ", op_kind_name(OpKind(k)), " ", ms(op.seconds), " (", op.calls, " calls)");
    }
    log_worker("time by op on the device (--profile-ops): ", ops.empty() ? "none" : ops, "; all ops ", ms(sum),
               " of the forward's ", ms(st.forward_seconds));
}

}  // namespace ls
