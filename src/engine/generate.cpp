#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "backend/backend.h"
#include "comm/control_channel.h"
#include "comm/mpi_communicator.h"
#include "core/log.h"
#include "engine/engine.h"
#include "engine/output.h"
#include "model/weights.h"

namespace ls {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<std::string> read_prompts(const RunOptions& o) {
    std::vector<std::string> prompts = o.prompts;
    if (!o.prompts_file.empty()) {
        std::ifstream f(o.prompts_file);
        ENSURE(f.good(), "--prompts-file ", o.prompts_file, ": cannot read");
        for (std::string line; std::getline(f, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!line.empty()) prompts.push_back(line);
        }
    }
    ENSURE(!prompts.empty(), "no prompts: --prompts-file ", o.prompts_file, " has no non-empty line");
    return prompts;
}

BpeTokenizer load_tokenizer(const RunOptions& o) {
    namespace fs = std::filesystem;
    const fs::path dir = o.tokenizer.empty() ? o.model : o.tokenizer;
    for (const char* f : {"vocab.json", "merges.txt"})
        ENSURE(fs::exists(dir / f), (dir / f).string(), ": missing (the tokenizer needs vocab.json and merges.txt",
               o.tokenizer.empty() ? "; or give --tokenizer DIR)" : ")");
    return BpeTokenizer::load((dir / "vocab.json").string(), (dir / "merges.txt").string());
}

std::vector<Sequence> make_requests(const RunOptions& o, const BpeTokenizer& tok, const ModelConfig& cfg,
                                    int max_model_len) {
    std::vector<Sequence> reqs;
    for (const auto& prompt : read_prompts(o)) {
        Sequence s;
        s.id = int(reqs.size());
        s.prompt = prompt;
        s.prompt_ids.push_back(cfg.bos_id);  // OPT's prompts start with </s>
        for (int32_t id : tok.encode(prompt)) s.prompt_ids.push_back(id);
        s.sampling = {o.temperature, o.top_k, o.top_p, o.logprobs, o.seed};
        s.rng = make_request_rng(o.seed, uint64_t(s.id));
        s.max_tokens = o.max_tokens;
        s.max_len = max_model_len;
        if (int(s.prompt_ids.size()) > max_model_len) {
            s.finish_reason = "error";
            s.error = cat("prompt ", s.id, " has ", s.prompt_ids.size(), " tokens, more than --max-model-len ",
                          max_model_len, " allows");
        }
        reqs.push_back(std::move(s));
    }
    return reqs;
}

std::string gather_hosts(const ProcessGrid& g) {
    constexpr int kLen = 64;
    char mine[kLen] = {0};
    g.host.copy(mine, kLen - 1);
    std::vector<char> all(size_t(kLen * g.world_size));
    MPI_CALL(MPI_Gather(mine, kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, 0, g.world_comm));
    std::set<std::string> hosts;
    for (int r = 0; r < g.world_size; r++) hosts.insert(std::string(&all[size_t(r * kLen)]));
    std::string out;
    for (const auto& h : hosts) out += (out.empty() ? "" : ", ") + h;
    return out;
}

}  // namespace

int run_generate(const RunOptions& o) {
    ProcessGrid grid = make_process_grid(o.tensor_parallel_size, o.pipeline_parallel_size);
    set_worker_name(grid.worker_name(), grid.world_rank);
    const std::string hosts = gather_hosts(grid);
    log0("started ", grid.world_size, " ranks (tensor_parallel_size=", grid.tp_size,
         ", pipeline_parallel_size=", grid.pp_size, ") on ", hosts, "; lockstep ", lockstep_version(), " (",
         lockstep_git_commit(), ")");

    const ModelConfig cfg = load_model_config(o.model);
    validate_tensor_parallel(cfg, grid.tp_size);
    ENSURE(o.dtype == "auto" || o.dtype == "float32", "--dtype ", o.dtype,
           ": the CPU backend computes in float32; use --dtype float32 or auto");
    const int max_model_len = o.max_model_len ? o.max_model_len : cfg.max_positions;
    ENSURE(max_model_len <= cfg.max_positions, "--max-model-len ", max_model_len,
           " is longer than the model's max_position_embeddings ", cfg.max_positions, " (", cfg.source, ")");
    const int max_batched = o.max_num_batched_tokens ? o.max_num_batched_tokens : std::max(max_model_len, 2048);
    ENSURE(max_batched >= o.max_num_seqs || o.max_num_batched_tokens == 0, "--max-num-batched-tokens ", max_batched,
           " must be at least --max-num-seqs ", o.max_num_seqs);
    log0("model ", o.model, ": OPT, ", cfg.n_layers, " layers, hidden ", cfg.d_model, ", ", cfg.n_heads,
         " heads, ffn ", cfg.d_ff, ", vocab ", cfg.n_vocab, ", ", cfg.pre_ln ? "pre-LN" : "post-LN",
         cfg.has_projection() ? cat(", word_embed_proj_dim ", cfg.d_embed) : "", "; checkpoint dtype ",
         cfg.torch_dtype, ", compute float32, max_model_len ", max_model_len);

    // The driver tokenizes first, so that a bad tokenizer or prompt file fails before any weight is read.
    std::optional<BpeTokenizer> tok;
    std::vector<Sequence> requests;
    if (grid.is_driver()) {
        tok.emplace(load_tokenizer(o));
        requests = make_requests(o, *tok, cfg, max_model_len);
    }

    const int n_threads = std::max(1, int(std::thread::hardware_concurrency()) / grid.local_size);
    auto be = make_backend("cpu", n_threads);
    MpiCommunicator tp(grid.tp_comm, "TP group");
    const auto t_load = Clock::now();
    Checkpoint ckpt = Checkpoint::open(o.model);
    OptModel model(cfg, *be, tp, ckpt, max_batched);
    const WeightBytes wb = model.weight_bytes();
    log_worker("model weights take ", format_bytes(double(wb.total())), " (", wb.total(), " bytes: sharded ",
               wb.sharded, " + replicated ", wb.replicated, ") on ", be->name(), "; loaded in ", format_seconds(since(t_load)),
               " s, read ", format_bytes(double(ckpt.bytes_read())), " of ", ckpt.format());

    // Until memory-based sizing lands, the cache holds every request at its longest at once.
    std::vector<int32_t> sizing = {0};
    if (grid.is_driver()) {
        for (const auto& s : requests)
            if (s.error.empty()) sizing[0] += (s.max_total_tokens() + o.block_size - 1) / o.block_size;
        sizing[0] = std::max(sizing[0], 1);
    }
    broadcast_ints(sizing, grid.world_comm, 0, "KV cache sizing");
    KvCache kv = make_kv_cache(*be, cfg.n_layers, sizing[0], o.block_size, model.d_local());
    log_worker("# KV blocks: ", kv.n_blocks, " (per worker) of ", o.block_size, " tokens, ",
               kv_bytes_per_token(cfg.n_layers, model.d_local(), be->compute_dtype()), " bytes per token, ",
               format_bytes(double(kv.bytes())));

    std::optional<BlockManager> blocks;
    std::optional<Driver> driver;
    if (grid.is_driver()) {
        blocks.emplace(kv.n_blocks, kv.block_size);
        DriverConfig dc{{o.max_num_seqs, max_batched}, o.stop, o.ignore_eos, cfg.eos_id};
        driver.emplace(dc, *tok, requests, *blocks);
    }
    const EngineStats st = run_engine(grid, *be, model, kv, driver ? &*driver : nullptr);

    int exit_code = 0;
    if (grid.is_driver()) {
        for (const auto& s : requests)
            if (!s.error.empty()) {
                log_line(cat("error: request ", s.id, ": ", s.error));
                exit_code = 1;
            }
        if (!o.quiet) print_generations(requests);
        if (!o.output_json.empty()) write_text_file(o.output_json, requests_to_json(requests));
        log0("generated ", driver->n_generated(), " tokens for ", requests.size(), " requests in ", st.n_steps,
             " steps, ", format_seconds(st.seconds), " s (",
             format_seconds(double(driver->n_generated()) / std::max(st.seconds, 1e-9)), " tokens/s; ", driver->n_preemptions(), " preemptions)");
    }
    free_process_grid(grid);
    return exit_code;
}

}  // namespace ls
