#include "engine/bench.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "core/log.h"
#include "core/percentile.h"
#include "engine/engine.h"
#include "engine/serve.h"
#include "engine/output.h"
#include "engine/report_collect.h"
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

// Sum of p[0..n), n a multiple of 32, in 32 independent lanes: the compiler turns them into the widest vector
// loads the CPU has (one clone per instruction set, chosen when the program loads), as OpenBLAS's kernels do;
// plain SSE2 loads measured a fifth less bandwidth than AVX2 on this VM.
__attribute__((target_clones("avx512f", "avx2", "default"))) float sum_floats(const float* p, size_t n) {
    float lane[32] = {};
    for (size_t i = 0; i < n; i += 32)
        for (int k = 0; k < 32; k++) lane[k] += p[i + k];
    float total = 0;
    for (float x : lane) total += x;
    return total;
}

// Host memory bandwidth as batch-1 decode sees it: `threads` threads (the rank's BLAS threads, which stream
// the weights together; one core alone draws a fraction of a socket's bandwidth) each read their slice of a
// buffer as large as the weights this rank reads per token, best of five passes. Sized like the weights
// because a CPU's last-level cache can be a sizeable part of them (260 MiB on this VM's Xeon against
// opt-125m's 472 MiB): decode rereads them every step and gets the same cache hits; a fixed 256 MiB buffer
// would sit almost whole in such a cache. Between 64 MiB and 1 GiB: past that the cache no longer matters.
Bandwidth measure_bandwidth(int threads, double weight_bytes) {
    const size_t n_threads = size_t(std::max(1, threads));
    const size_t bytes = size_t(std::clamp(weight_bytes, double(64 << 20), double(1 << 30)));
    const size_t slice = bytes / 4 / n_threads / 32 * 32, n = slice * n_threads;  // floats
    std::vector<float> a(n, 1.0f), b(n, 0.0f);
    std::vector<float> sums(n_threads, 0.0f);
    auto timed = [&](const auto& work) {  // seconds for every thread's slice, the threads started together
        const auto t0 = Clock::now();
        std::vector<std::thread> pool;
        for (size_t t = 1; t < n_threads; t++) pool.emplace_back(work, t);
        work(size_t(0));
        for (auto& th : pool) th.join();
        return std::chrono::duration<double>(Clock::now() - t0).count();
    };
    double best_read = 1e30, best_copy = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        best_read = std::min(best_read, timed([&](size_t t) { sums[t] += sum_floats(a.data() + t * slice, slice); }));
        best_copy = std::min(best_copy, timed([&](size_t t) {
            std::memcpy(b.data() + t * slice, a.data() + t * slice, slice * sizeof(float));
        }));
        a[size_t(rep)] = b[n - 1 - size_t(rep)] + sums[0];  // keep both passes observable
    }
    return {double(n) * 4 / best_read, 2.0 * double(n) * 4 / best_copy};
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
    if (g.is_driver()) {
        requests = synthetic_requests(o, rt->cfg, rt->max_model_len);
        if (!o.output_json.empty()) check_writable("--output-json", o.output_json);
        check_report_path(o);
    }
    load_runtime(*rt, o);

    const bool on_device = !rt->be->host_memory();
    const double read_bytes = double(rt->model->decode_read_bytes());
    // A batch-1 decode step runs the stages one after the other and the ranks of a stage together. So the
    // stages measure in turn, the ranks of each at once (on one host they share its memory, as in decode),
    // and the floor is the sum over the stages of each stage's slowest rank.
    Bandwidth bw;
    for (int stage = 0; stage < g.pp_size; stage++) {
        MPI_CALL(MPI_Barrier(g.world_comm));
        if (g.pp_rank != stage) continue;
        // Past the profiler (--profile-ops): these copies are not the model's ops.
        bw = on_device ? measure_device_bandwidth(rt->profile ? rt->profile->inner() : *rt->be)
                       : measure_bandwidth(rt->cpu_threads, read_bytes);
    }
    const double floor_s = read_bytes / bw.read;
    double stage_floor = 0, floor_total = 0;  // floor_total: the whole pipeline's, on the driver
    MPI_CALL(MPI_Allreduce(&floor_s, &stage_floor, 1, MPI_DOUBLE, MPI_MAX, g.tp_comm));
    MPI_CALL(MPI_Reduce(&stage_floor, &floor_total, 1, MPI_DOUBLE, MPI_SUM, 0, g.pp_comm));
    log_worker(on_device ? "device copy bandwidth " : "read bandwidth ", format_seconds(bw.read / 1e9), " GB/s (",
               on_device ? "" : cat(rt->cpu_threads, " thread(s) at once; "), "copy ", format_seconds(bw.copy / 1e9),
               " GB/s); batch-1 decode floor ", format_seconds(floor_s * 1e3), " ms per token (", int64_t(read_bytes),
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

    // vLLM's benchmark_serving definitions: ITL over every gap between tokens; TPOT per request, its decode time
    // over its tokens after the first (so a request's many gaps weigh as one); E2EL from arrival to last token.
    std::vector<double> ttft, itl, tpot, e2el;
    int64_t n_out = 0, n_in = 0;
    double end = 0;
    for (const auto& s : requests) {
        ENSURE(s.error.empty(), "request ", s.id, ": ", s.error);
        ttft.push_back(s.token_times.front() - s.arrival);
        e2el.push_back(s.token_times.back() - s.arrival);
        if (s.token_times.size() > 1)
            tpot.push_back((s.token_times.back() - s.token_times.front()) / double(s.token_times.size() - 1));
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
        {"itl", latency_stats(itl)}, {"tpot", latency_stats(tpot)}, {"e2el", latency_stats(e2el)},
        {"decode_floor_ms", floor_total * 1e3},
        {"weight_bytes_read_per_token_rank0", read_bytes}, {"read_bandwidth_gb_s_rank0", bw.read / 1e9},
        {"bandwidth_threads_rank0", on_device ? 0 : rt->cpu_threads},
        {"copy_bandwidth_gb_s_rank0", bw.copy / 1e9},
        {"floor_bandwidth", on_device ? "device-to-device copy" : "host memory read"}, {"device", rt->be->name()},
        {"dtype", dtype_name(rt->be->compute_dtype())}, {"weight_dtype", dtype_name(rt->be->weight_dtype())},
        {"cuda_graphs", rt->graphs != nullptr}, {"cuda_graph_steps", st.graph_steps}, {"command", o.command_line}};
    char table[2048];
    std::snprintf(table, sizeof table,
                  "lockstep bench: tp=%d, pp=%d, %d requests × (%d in, %d out), request rate %s, %d KV blocks\n"
                  "  duration              %10.2f s   (%lld steps, %d preemptions)\n"
                  "  requests/s            %10.2f\n"
                  "  output tokens/s       %10.1f\n"
                  "  total tokens/s        %10.1f\n"
                  "                        %10s %10s %10s %10s\n"
                  "  TTFT (ms)             %10.1f %10.1f %10.1f %10.1f\n"
                  "  ITL (ms)              %10.2f %10.2f %10.2f %10.2f\n"
                  "  TPOT (ms)             %10.2f %10.2f %10.2f %10.2f\n"
                  "  E2E latency (ms)      %10.1f %10.1f %10.1f %10.1f\n"
                  "  batch-1 decode floor  %10.2f ms per token (weight bytes ÷ read bandwidth of each stage's slowest rank, summed)\n",
                  g.tp_size, g.pp_size, o.num_prompts, o.input_len, o.output_len,
                  o.request_rate > 0 ? cat(o.request_rate, "/s").c_str() : "inf (all at once)", rt->kv.n_blocks,
                  end, (long long)st.n_steps, driver->n_preemptions(), double(requests.size()) / end,
                  double(n_out) / end, double(n_in + n_out) / end, "mean", "p50", "p90", "p99",
                  j["ttft"]["mean_ms"].get<double>(), j["ttft"]["p50_ms"].get<double>(),
                  j["ttft"]["p90_ms"].get<double>(), j["ttft"]["p99_ms"].get<double>(),
                  j["itl"]["mean_ms"].get<double>(), j["itl"]["p50_ms"].get<double>(), j["itl"]["p90_ms"].get<double>(),
                  j["itl"]["p99_ms"].get<double>(), j["tpot"]["mean_ms"].get<double>(),
                  j["tpot"]["p50_ms"].get<double>(), j["tpot"]["p90_ms"].get<double>(),
                  j["tpot"]["p99_ms"].get<double>(), j["e2el"]["mean_ms"].get<double>(),
                  j["e2el"]["p50_ms"].get<double>(), j["e2el"]["p90_ms"].get<double>(),
                  j["e2el"]["p99_ms"].get<double>(), floor_total * 1e3);
    std::fputs(table, stdout);
    std::fflush(stdout);
    if (!o.output_json.empty()) write_text_file(o.output_json, j.dump(2) + "\n");
    return 0;
}

}  // namespace ls
