#include "report/report_command.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/percentile.h"
#include "report/h5.h"

namespace ls {

namespace {

double sum(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
}

std::string mib(double b) {
    char buf[48];
    std::snprintf(buf, sizeof buf, b >= 1 << 30 ? "%.2f GiB" : "%.2f MiB", b / (b >= 1 << 30 ? 1 << 30 : 1 << 20));
    return buf;
}

// The figures the lab compares, derived from one report.
struct Reading {
    std::string path, model;
    bool complete = true;
    int tp = 1, pp = 1, world = 1, n_layers = 0, hidden = 0, d_embed = 0, block_size = 16;
    int elem_bytes = 4;  // of the activations the all-reduces carry: the compute dtype's
    std::vector<double> sharded, replicated, blocks, kv_bytes, compute, comm, loop, plan_wait;
    double all_reduce_calls = 0, all_reduce_bytes = 0, steps = 0, tokens_all_steps = 0, out_tokens = 0;
    double predicted_calls_per_step = 0, predicted_bytes = 0, duration = 0;
    std::vector<double> ttft, itl;
    // The device's memory when serving began (CUDA runs; reports before these figures have none).
    std::string device = "cpu";
    std::string weight_dtype;  // "" in reports from before it was written
    double gpu_memory_utilization = 0;
    std::vector<double> total_memory, device_used, activation_peak, graph_memory;
    std::map<std::string, std::vector<double>> plan;  // lockstep plan's figures, one per pipeline stage
    std::vector<double> pp_rank;
    std::vector<double> forward;
    // --profile-ops: per op kind, its device seconds, calls and host seconds on each rank (empty without).
    struct Op {
        std::string name;
        std::vector<double> seconds, calls, host_seconds;
    };
    std::vector<Op> ops;
};

Reading read(const std::string& path) {
    H5File f = H5File::open(path);
    ENSURE(f.has_attr("format") && f.attr_string("format") == "lockstep-report-1", path,
           ": not a lockstep report (no format attribute lockstep-report-1)");
    Reading r;
    r.path = path;
    r.model = f.attr_string("model");
    r.complete = f.attr_int("complete") != 0;
    r.tp = int(f.attr_double("tensor_parallel_size"));
    r.pp = int(f.attr_double("pipeline_parallel_size"));
    r.world = int(f.attr_double("world_size"));
    r.n_layers = int(f.attr_double("n_layers"));
    r.hidden = int(f.attr_double("hidden_size"));
    // Reports before these attributes: fp32 (the CPU backend), and the embedding as wide as the hidden state.
    r.d_embed = f.has_attr("word_embed_proj_dim") ? int(f.attr_double("word_embed_proj_dim")) : r.hidden;
    r.elem_bytes = f.has_attr("dtype") && f.attr_string("dtype") != "float32" ? 2 : 4;
    if (f.has_attr("weight_dtype")) r.weight_dtype = f.attr_string("weight_dtype");
    r.block_size = int(f.attr_double("block_size"));
    r.sharded = f.read_doubles("/ranks/weight_bytes_sharded");
    r.replicated = f.read_doubles("/ranks/weight_bytes_replicated");
    r.blocks = f.read_doubles("/ranks/kv_blocks_local");
    r.kv_bytes = f.read_doubles("/ranks/kv_bytes");
    r.compute = f.read_doubles("/ranks/compute_seconds");
    r.comm = f.read_doubles("/ranks/comm_seconds");
    r.loop = f.read_doubles("/ranks/loop_seconds");
    r.plan_wait = f.read_doubles("/ranks/plan_wait_seconds");
    r.all_reduce_calls = f.read_doubles("/ranks/all_reduce_calls")[0];
    // Reports written before pipeline parallelism have no layer ranges: rank 0 then holds every layer.
    const double layers0 = f.has("/ranks/layer_end")
                               ? f.read_doubles("/ranks/layer_end")[0] - f.read_doubles("/ranks/layer_begin")[0]
                               : f.attr_double("n_layers");
    r.all_reduce_bytes = f.read_doubles("/ranks/all_reduce_bytes")[0];
    const auto n_tokens = f.read_ints("/steps/n_tokens");
    r.steps = double(n_tokens.size());
    for (int64_t n : n_tokens) r.tokens_all_steps += double(n);
    // Megatron: one all-reduce after out_proj and one after fc2 in every layer ([tokens, hidden]), one after the
    // vocab-parallel embedding ([tokens, word_embed_proj_dim]); rank 0 holds the first stage's layers and the
    // embedding.
    r.n_layers = int(layers0);
    r.predicted_calls_per_step = r.tp > 1 ? 2.0 * layers0 + 1 : 0;
    r.predicted_bytes = r.tp > 1 ? r.tokens_all_steps * r.elem_bytes * (2.0 * layers0 * r.hidden + r.d_embed) : 0;
    r.ttft = f.read_doubles("/requests/ttft_s");
    r.itl = f.read_doubles("/requests/itl_s");
    for (double x : f.read_ints("/requests/output_len")) r.out_tokens += x;
    r.duration = r.loop.empty() ? 0 : r.loop[0];
    if (f.has("/ranks/forward_seconds")) r.forward = f.read_doubles("/ranks/forward_seconds");
    if (f.has_attr("device")) r.device = f.attr_string("device");
    if (f.has_attr("gpu_memory_utilization")) r.gpu_memory_utilization = f.attr_double("gpu_memory_utilization");
    if (f.has("/ranks/device_used_bytes")) {
        r.total_memory = f.read_doubles("/ranks/total_memory");
        r.device_used = f.read_doubles("/ranks/device_used_bytes");
        r.activation_peak = f.read_doubles("/ranks/activation_peak");
        r.graph_memory = f.read_doubles("/ranks/graph_memory_bytes");
    }
    for (const std::string& name : f.members("/ranks")) {  // op_<kind>_calls, _seconds, _host_seconds
        if (!name.starts_with("op_") || !name.ends_with("_calls")) continue;
        const std::string base = name.substr(0, name.size() - std::string("_calls").size());
        const std::vector<double> calls = f.read_doubles("/ranks/" + name);
        r.ops.push_back({base.substr(3), f.read_doubles("/ranks/" + base + "_seconds"), calls,
                         f.has("/ranks/" + base + "_host_seconds") ? f.read_doubles("/ranks/" + base + "_host_seconds")
                                                                   : std::vector<double>(calls.size(), 0.0)});
    }
    for (const char* k : {"weight_bytes_sharded", "weight_bytes_replicated", "kv_blocks", "kv_blocks_local"})
        if (f.has(std::string("/plan/") + k)) r.plan[k] = f.read_doubles(std::string("/plan/") + k);
    if (!r.plan.count("kv_blocks_local") && r.plan.count("kv_blocks"))  // before pipeline stages: one and the same
        r.plan["kv_blocks_local"] = r.plan["kv_blocks"];
    r.pp_rank = f.has("/ranks/pp_rank") ? f.read_doubles("/ranks/pp_rank") : std::vector<double>(r.sharded.size(), 0);
    return r;
}

// The first rank of pipeline stage s (its index in the /ranks datasets), or none when the report lacks it (an
// incomplete report has the driver's figures only).
std::optional<size_t> first_rank_of_stage(const Reading& r, size_t s) {
    for (size_t rank = 0; rank < r.pp_rank.size(); rank++)
        if (size_t(r.pp_rank[rank]) == s) return rank;
    return std::nullopt;
}

// One rank's forward time by op (--profile-ops), most first, then what the ops do not account for: the
// collectives, and the host's work between ops.
void print_ops(const Reading& r, size_t rank) {
    const double fwd = std::max(r.forward[rank], 1e-12);
    std::printf("\nTime by op (--profile-ops; rank %zu's device time, of its forward %.3f s):\n", rank, r.forward[rank]);
    std::printf("  %-12s %10s %7s %9s %12s %12s   %s\n", "op", "seconds", "share", "calls", "us per call",
                "host us/call", "slowest rank");
    std::vector<const Reading::Op*> order;
    for (const Reading::Op& op : r.ops)
        if (op.calls[rank] > 0) order.push_back(&op);  // e.g. no projections in this model, no LM head here
    std::sort(order.begin(), order.end(),
              [rank](const Reading::Op* a, const Reading::Op* b) { return a->seconds[rank] > b->seconds[rank]; });
    double ops = 0;
    for (const Reading::Op* op : order) {
        ops += op->seconds[rank];
        const size_t slow = size_t(std::max_element(op->seconds.begin(), op->seconds.end()) - op->seconds.begin());
        const double n = op->calls[rank];
        std::printf("  %-12s %10.4f %6.1f%% %9.0f %12.1f %12.1f   rank %zu: %.4f s\n", op->name.c_str(),
                    op->seconds[rank], 100 * op->seconds[rank] / fwd, n, 1e6 * op->seconds[rank] / n,
                    1e6 * op->host_seconds[rank] / n, slow, op->seconds[slow]);
    }
    const double comm = r.comm.size() > rank ? r.comm[rank] : 0;
    std::printf("  %-12s %10.4f %6.1f%%\n", "collectives", comm, 100 * comm / fwd);
    std::printf("  %-12s %10.4f %6.1f%%   (forward - ops - collectives: the host's work between ops, waiting)\n",
                "other", r.forward[rank] - ops - comm, 100 * (r.forward[rank] - ops - comm) / fwd);
    if (!r.complete) std::printf("  (the run failed: ops still in flight then are counted without their time)\n");
}

// What each rank's device held when serving began, against what --gpu-memory-utilization allows, and what
// of it is lockstep's: the startup log's figures, for every rank in one place.
void print_device_memory(const Reading& r) {
    std::printf("\nDevice memory when serving began (cudaMemGetInfo: every process on the device):\n");
    for (size_t i = 0; i < r.device_used.size(); i++) {
        const double total = r.total_memory[i], allowed = r.gpu_memory_utilization * total;
        std::printf("  rank %zu: %s in use of %s (%.1f%%); --gpu-memory-utilization %.2f allows %s%s\n", i,
                    mib(r.device_used[i]).c_str(), mib(total).c_str(), 100 * r.device_used[i] / std::max(total, 1.0),
                    r.gpu_memory_utilization, mib(allowed).c_str(), r.device_used[i] > allowed ? "  [OVER]" : "");
        std::printf("          lockstep's: weights %s + KV cache %s, and %s kept free for activations (the "
                    "profiled peak); the CUDA graphs took %s more\n",
                    mib(r.sharded[i] + r.replicated[i]).c_str(), mib(r.kv_bytes[i]).c_str(),
                    mib(r.activation_peak[i]).c_str(), mib(r.graph_memory[i]).c_str());
    }
}

// lockstep plan's prediction next to each stage's first rank (rank 0 alone without pipeline stages).
void print_plan(const Reading& r) {
    const std::vector<double>& sharded = r.plan.at("weight_bytes_sharded");
    std::printf("\nPlan (lockstep plan's prediction) vs measured:\n");
    for (size_t s = 0; s < sharded.size(); s++) {
        const std::optional<size_t> first = first_rank_of_stage(r, s);
        if (!first) break;
        const size_t rank = *first;
        std::printf("  %srank %zu: weights %.0f vs %.0f bytes, KV blocks it could hold %.0f vs %.0f\n",
                    sharded.size() > 1 ? cat("stage ", s, ", ").c_str() : "", rank,
                    sharded[s] + r.plan.at("weight_bytes_replicated")[s], r.sharded[rank] + r.replicated[rank],
                    r.plan.at("kv_blocks_local")[s], r.blocks[rank]);
    }
}

void print_one(const Reading& r) {
    std::printf("%s: %s, tp=%d pp=%d (%d ranks)%s\n", r.path.c_str(), r.model.c_str(), r.tp, r.pp, r.world,
                r.complete ? "" : "  [INCOMPLETE: the run failed; figures are the driver's only]");
    std::printf("\nWeights per rank (sharded + replicated%s):\n",
                r.weight_dtype.empty() ? "" : cat(", ", r.weight_dtype).c_str());
    for (size_t i = 0; i < r.sharded.size(); i++)
        std::printf("  rank %zu: %s = %s + %s\n", i, mib(r.sharded[i] + r.replicated[i]).c_str(),
                    mib(r.sharded[i]).c_str(), mib(r.replicated[i]).c_str());
    const double one_copy = sum(r.sharded) + (r.replicated.empty() ? 0 : r.replicated[0]);
    std::printf("  sum over ranks %s = one copy of the model %s + %d × the replicated %s\n",
                mib(sum(r.sharded) + sum(r.replicated)).c_str(), mib(one_copy).c_str(), r.world - 1,
                mib(r.replicated.empty() ? 0 : r.replicated[0]).c_str());
    if (!r.sharded.empty())
        std::printf("  each rank holds %.3f of one copy (1/tp = %.3f, plus the replicated part)\n",
                    (r.sharded[0] + r.replicated[0]) / one_copy, 1.0 / r.tp);

    std::printf("\nKV cache:\n");
    const double blocks = r.blocks.empty() ? 0 : *std::min_element(r.blocks.begin(), r.blocks.end());
    std::printf("  blocks per rank %.0f (the minimum over ranks), × tp %d = %.0f block shards of %d tokens\n",
                blocks, r.tp, blocks * r.tp, r.block_size);
    std::printf("  token capacity %.0f tokens, %s of KV over all ranks\n", blocks * r.block_size,
                mib(sum(r.kv_bytes)).c_str());

    if (r.device == "cuda" && !r.device_used.empty() && r.device_used.size() == r.sharded.size())
        print_device_memory(r);

    std::printf("\nCommunication:\n");
    std::printf("  all-reduces per step on rank 0: %.2f measured (%.0f over %.0f steps), %.0f predicted "
                "(2 × its %d layers + 1)\n",
                r.steps ? r.all_reduce_calls / r.steps : 0, r.all_reduce_calls, r.steps, r.predicted_calls_per_step,
                r.n_layers);
    if (r.all_reduce_calls > 0)
        std::printf("  bytes per all-reduce: %.0f measured, %.0f predicted (tokens per step × %d × %d bytes%s)\n",
                    r.all_reduce_bytes / r.all_reduce_calls,
                    r.predicted_bytes / std::max(1.0, r.predicted_calls_per_step * r.steps), r.hidden, r.elem_bytes,
                    r.d_embed != r.hidden ? cat("; the embedding's × ", r.d_embed).c_str() : "");
    for (size_t i = 0; i < r.loop.size(); i++)
        std::printf("  rank %zu: %.1f%% of the loop in collectives, %.1f%% waiting for the step plan\n", i,
                    100 * r.comm[i] / std::max(r.loop[i], 1e-12), 100 * r.plan_wait[i] / std::max(r.loop[i], 1e-12));

    // One table per pipeline stage, for its first rank: the stages run different ops.
    for (size_t s = 0; !r.ops.empty() && s < size_t(r.pp); s++)
        if (const std::optional<size_t> rank = first_rank_of_stage(r, s)) print_ops(r, *rank);

    std::printf("\nStraggler:\n");
    const double med = percentile(r.compute, 50);  // the median
    const size_t slow = size_t(std::max_element(r.compute.begin(), r.compute.end()) - r.compute.begin());
    if (!r.compute.empty())
        std::printf("  slowest rank %zu: compute %.3f s, %.1f%% above the median %.3f s; it sets the lockstep pace\n",
                    slow, r.compute[slow], med > 0 ? 100 * (r.compute[slow] / med - 1) : 0, med);

    std::printf("\nLatency: TTFT p50 %.1f ms, ITL p50 %.2f ms p99 %.2f ms, %.0f output tokens in %.2f s\n",
                percentile(r.ttft, 50) * 1e3, percentile(r.itl, 50) * 1e3, percentile(r.itl, 99) * 1e3,
                r.out_tokens, r.duration);
    if (r.plan.size() >= 3 && !r.sharded.empty()) print_plan(r);
}

void print_pair(const Reading& a, const Reading& b) {
    auto row = [](const char* what, const std::string& x, const std::string& y) {
        std::printf("  %-34s %22s %22s\n", what, x.c_str(), y.c_str());
    };
    auto num = [](double v, const char* fmt) {
        char buf[64];
        std::snprintf(buf, sizeof buf, fmt, v);
        return std::string(buf);
    };
    std::printf("%-36s %22s %22s\n", "", ("A: tp=" + std::to_string(a.tp)).c_str(), ("B: tp=" + std::to_string(b.tp)).c_str());
    row("weights per rank", mib(a.sharded[0] + a.replicated[0]), mib(b.sharded[0] + b.replicated[0]));
    row("KV blocks per rank", num(a.blocks[0], "%.0f"), num(b.blocks[0], "%.0f"));
    row("KV token capacity", num(a.blocks[0] * a.block_size, "%.0f"), num(b.blocks[0] * b.block_size, "%.0f"));
    row("all-reduces per step", num(a.steps ? a.all_reduce_calls / a.steps : 0, "%.2f"),
        num(b.steps ? b.all_reduce_calls / b.steps : 0, "%.2f"));
    row("share of loop in collectives (max)",
        num(100 * *std::max_element(a.comm.begin(), a.comm.end()) / std::max(a.loop[0], 1e-12), "%.1f%%"),
        num(100 * *std::max_element(b.comm.begin(), b.comm.end()) / std::max(b.loop[0], 1e-12), "%.1f%%"));
    row("TTFT p50 (ms)", num(percentile(a.ttft, 50) * 1e3, "%.1f"), num(percentile(b.ttft, 50) * 1e3, "%.1f"));
    row("ITL p50 (ms)", num(percentile(a.itl, 50) * 1e3, "%.2f"), num(percentile(b.itl, 50) * 1e3, "%.2f"));
    row("output tokens/s", num(a.out_tokens / std::max(a.duration, 1e-12), "%.1f"),
        num(b.out_tokens / std::max(b.duration, 1e-12), "%.1f"));
    std::printf("\nB / A: weights per rank %.3f, KV token capacity per rank %.3f\n",
                (b.sharded[0] + b.replicated[0]) / (a.sharded[0] + a.replicated[0]), b.blocks[0] / a.blocks[0]);
}

}  // namespace

int report_main(int argc, char** argv) {
    if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help") {
        std::fprintf(argc < 2 || argc > 3 ? stderr : stdout, "usage: lockstep report RUN.h5 [OTHER_RUN.h5]\n");
        return argc < 2 || argc > 3 ? 2 : 0;
    }
    try {
        const Reading a = read(argv[1]);
        if (argc == 2) {
            print_one(a);
        } else {
            print_pair(a, read(argv[2]));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace ls
