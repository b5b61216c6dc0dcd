#include "engine/bench.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "core/log.h"
#include "core/percentile.h"
#include "engine/engine.h"
#include "engine/serve.h"
#include "engine/output.h"
#include "engine/runtime.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<Sequence> synthetic_requests(const RunOptions& o, const ModelConfig& cfg, int max_model_len) {
    std::mt19937_64 rng(o.seed);
    // Ids of ordinary tokens: above OPT's four specials, inside both the vocab and the embedding table.
    std::uniform_int_distribution<int32_t> token(4, std::min(cfg.n_vocab, 50265) - 1);
    std::exponential_distribution<double> gap(o.request_rate > 0 ? o.request_rate : 1.0);
    std::vector<Sequence> reqs(size_t(o.num_prompts));
    double t = 0;
    for (int i = 0; i < o.num_prompts; i++) {
        Sequence& s = reqs[size_t(i)];
        s.id = i;
        s.prompt_ids.push_back(cfg.bos_id);
        while (int(s.prompt_ids.size()) < o.input_len) s.prompt_ids.push_back(token(rng));
        s.sampling = {o.temperature, o.top_k, o.top_p, 0, o.seed};
        s.rng = make_request_rng(o.seed, uint64_t(i));
        s.max_tokens = o.output_len;
        s.max_len = max_model_len;
        s.arrival = t;
        if (o.request_rate > 0) t += gap(rng);
        ENSURE(o.input_len + o.output_len <= max_model_len, "--input-len ", o.input_len, " + --output-len ",
               o.output_len, " exceeds --max-model-len ", max_model_len);
    }
    return reqs;
}

struct Bandwidth {
    double read = 0;  // bytes/s streamed read-only (what decode does to the weights)
    double copy = 0;  // bytes read + written per second by memcpy
};

// Best of a few passes over 256 MiB, far beyond any cache.
Bandwidth measure_bandwidth() {
    const size_t n = size_t(256) << 20, words = n / 8;
    std::vector<uint64_t> a(words, 1), b(words, 0);
    Bandwidth bw;
    double best_read = 1e30, best_copy = 1e30;
    uint64_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        auto t0 = Clock::now();
        uint64_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;  // independent sums: the loop vectorizes
        for (size_t i = 0; i < words; i += 4) {
            acc0 += a[i];
            acc1 += a[i + 1];
            acc2 += a[i + 2];
            acc3 += a[i + 3];
        }
        sink += acc0 + acc1 + acc2 + acc3;
        best_read = std::min(best_read, std::chrono::duration<double>(Clock::now() - t0).count());
        t0 = Clock::now();
        std::memcpy(b.data(), a.data(), n);
        best_copy = std::min(best_copy, std::chrono::duration<double>(Clock::now() - t0).count());
        a[size_t(rep)] = b[words - 1 - size_t(rep)] + sink;  // keep both passes observable
    }
    bw.read = double(n) / best_read;
    bw.copy = 2.0 * double(n) / best_copy;
    return bw;
}

// A device backend's weights live in its own memory (HBM on a GPU): time device-to-device copies through the
// backend, best of ten over 256 MiB (well past a GPU's L2). Decode reads each weight once, so the floor is
// weight bytes over this bandwidth, as a copy counts its bytes read and written.
Bandwidth measure_device_bandwidth(Backend& be) {
    const int64_t n = int64_t(64) << 20;  // fp32 elements
    Buffer a = be.alloc(DType::F32, {n}), b = be.alloc(DType::F32, {n});
    be.convert(b, a);  // warm-up: first launch, page mapping
    be.synchronize();
    double best = 1e30;
    for (int rep = 0; rep < 10; rep++) {
        auto t0 = Clock::now();
        be.convert(b, a);
        be.synchronize();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    Bandwidth bw;
    bw.copy = 2.0 * double(n) * 4 / best;
    bw.read = bw.copy;
    return bw;
}

nlohmann::json latency_stats(const std::vector<double>& seconds) {
    nlohmann::json j;
    for (double p : {50.0, 90.0, 99.0}) j[cat("p", int(p), "_ms")] = percentile(seconds, p) * 1e3;
    double mean = 0;
    for (double x : seconds) mean += x;
    j["mean_ms"] = seconds.empty() ? 0 : mean / double(seconds.size()) * 1e3;
    return j;
}

}  // namespace

int run_bench(const RunOptions& o) {
    std::unique_ptr<Runtime> rt = prepare_runtime(o);
    const ProcessGrid& g = rt->grid;
    std::vector<Sequence> requests;
    if (g.is_driver()) requests = synthetic_requests(o, rt->cfg, rt->max_model_len);
    load_runtime(*rt, o);

    // Every rank measures at once, as they stream their weights at once during decode.
    MPI_CALL(MPI_Barrier(g.world_comm));
    const bool on_device = !rt->be->host_memory();
    // Past the profiler (--profile-ops): these copies are not the model's ops.
    const Bandwidth bw = on_device ? measure_device_bandwidth(rt->profile ? rt->profile->inner() : *rt->be)
                                   : measure_bandwidth();
    // A decode step reads every weight this rank holds except the position table (one row per token), which
    // the first pipeline stage holds.
    const double pos_table =
        rt->stage.first() ? double(rt->cfg.max_positions + 2) * rt->cfg.d_model * double(dtype_size(rt->dtype)) : 0;
    const double read_bytes = double(rt->model->weight_bytes().total()) - pos_table;
    const double floor_s = read_bytes / bw.read;
    double floor_max = 0;
    MPI_CALL(MPI_Reduce(&floor_s, &floor_max, 1, MPI_DOUBLE, MPI_MAX, 0, g.world_comm));
    log_worker(on_device ? "device copy bandwidth " : "read bandwidth ", format_seconds(bw.read / 1e9), " GB/s (copy ",
               format_seconds(bw.copy / 1e9), " GB/s); batch-1 decode floor ", format_seconds(floor_s * 1e3), " ms per token (", int64_t(read_bytes),
               " weight bytes read per token)");

    const int in_flight = o.pipeline_batches_in_flight ? o.pipeline_batches_in_flight : rt->grid.pp_size;
    std::optional<BlockManager> blocks;
    std::optional<Driver> driver;
    if (g.is_driver()) {
        blocks.emplace(rt->kv.n_blocks, rt->kv.block_size);
        DriverConfig dc{{o.max_num_seqs, rt->max_num_batched_tokens}, {}, /*ignore_eos=*/true, rt->cfg.eos_id, in_flight};
        driver.emplace(dc, nullptr, requests, *blocks);
    }
    const EngineStats st = serve(o, *rt, driver ? &*driver : nullptr, requests, in_flight);
    if (!g.is_driver()) return 0;

    std::vector<double> ttft, itl;
    int64_t n_out = 0, n_in = 0;
    double end = 0;
    for (const auto& s : requests) {
        ENSURE(s.error.empty(), "request ", s.id, ": ", s.error);
        ttft.push_back(s.token_times.front() - s.arrival);
        for (size_t i = 1; i < s.token_times.size(); i++) itl.push_back(s.token_times[i] - s.token_times[i - 1]);
        n_out += int64_t(s.output_ids.size());
        n_in += int64_t(s.prompt_ids.size());
        end = std::max(end, s.token_times.back());
    }
    nlohmann::json j = {
        {"model", o.model}, {"tensor_parallel_size", g.tp_size}, {"pipeline_parallel_size", g.pp_size},
        {"num_prompts", o.num_prompts}, {"input_len", o.input_len}, {"output_len", o.output_len},
        {"request_rate", o.request_rate > 0 ? nlohmann::json(o.request_rate) : nlohmann::json("inf")},
        {"max_num_seqs", o.max_num_seqs}, {"kv_blocks", rt->kv.n_blocks}, {"duration_s", end},
        {"steps", st.n_steps}, {"preemptions", driver->n_preemptions()},
        {"requests_per_s", double(requests.size()) / end}, {"output_tokens_per_s", double(n_out) / end},
        {"total_tokens_per_s", double(n_in + n_out) / end}, {"ttft", latency_stats(ttft)},
        {"itl", latency_stats(itl)}, {"decode_floor_ms", floor_max * 1e3},
        {"weight_bytes_read_per_token_rank0", read_bytes}, {"read_bandwidth_gb_s_rank0", bw.read / 1e9},
        {"copy_bandwidth_gb_s_rank0", bw.copy / 1e9},
        {"floor_bandwidth", on_device ? "device-to-device copy" : "host memory read"}, {"device", rt->be->name()},
        {"dtype", dtype_name(rt->dtype)}, {"cuda_graphs", rt->graphs != nullptr}, {"cuda_graph_steps", st.graph_steps}, {"command", o.command_line}};
    char table[2048];
    std::snprintf(table, sizeof table,
                  "lockstep bench: tp=%d, %d requests × (%d in, %d out), request rate %s, %d KV blocks\n"
                  "  duration              %10.2f s   (%lld steps, %d preemptions)\n"
                  "  requests/s            %10.2f\n"
                  "  output tokens/s       %10.1f\n"
                  "  total tokens/s        %10.1f\n"
                  "                        %10s %10s %10s %10s\n"
                  "  TTFT (ms)             %10.1f %10.1f %10.1f %10.1f\n"
                  "  ITL (ms)              %10.2f %10.2f %10.2f %10.2f\n"
                  "  batch-1 decode floor  %10.2f ms per token (slowest rank: weight bytes it reads ÷ its read bandwidth)\n",
                  g.tp_size, o.num_prompts, o.input_len, o.output_len,
                  o.request_rate > 0 ? cat(o.request_rate, "/s").c_str() : "inf (all at once)", rt->kv.n_blocks,
                  end, (long long)st.n_steps, driver->n_preemptions(), double(requests.size()) / end,
                  double(n_out) / end, double(n_in + n_out) / end, "mean", "p50", "p90", "p99",
                  j["ttft"]["mean_ms"].get<double>(), j["ttft"]["p50_ms"].get<double>(),
                  j["ttft"]["p90_ms"].get<double>(), j["ttft"]["p99_ms"].get<double>(),
                  j["itl"]["mean_ms"].get<double>(), j["itl"]["p50_ms"].get<double>(), j["itl"]["p90_ms"].get<double>(),
                  j["itl"]["p99_ms"].get<double>(), floor_max * 1e3);
    std::fputs(table, stdout);
    std::fflush(stdout);
    if (!o.output_json.empty()) write_text_file(o.output_json, j.dump(2) + "\n");
    return 0;
}

}  // namespace ls
