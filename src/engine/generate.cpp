#include "engine/generate.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/serve.h"
#include "engine/output.h"
#include "engine/report_collect.h"
#include "engine/runtime.h"

namespace ls {

namespace {

std::vector<std::string> read_prompts(const RunOptions& o) {
    std::vector<std::string> prompts = o.prompts;
    if (!o.prompts_file.empty()) {
        std::ifstream f(o.prompts_file);
        ENSURE(f.good(), "--prompts-file ", o.prompts_file, ": cannot read: ", std::strerror(errno));
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
    return BpeTokenizer::load((dir / "vocab.json").string(), (dir / "merges.txt").string(),
                              read_special_tokens(dir.string()));
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
            s.error = cat("the prompt has ", s.prompt_ids.size(), " tokens, more than --max-model-len ", max_model_len,
                          " allows");
        }
        reqs.push_back(std::move(s));
    }
    return reqs;
}

}  // namespace

int run_generate(const RunOptions& o) {
    std::unique_ptr<Runtime> rt = prepare_runtime(o);
    const bool is_driver = rt->grid.is_driver();
    // The driver tokenizes first, so that a bad tokenizer, prompt file or output path fails before any weight is read.
    std::optional<BpeTokenizer> tok;
    std::vector<Sequence> requests;
    if (is_driver) {
        tok.emplace(load_tokenizer(o));
        requests = make_requests(o, *tok, rt->cfg, rt->max_model_len);
        if (!o.output_json.empty()) check_writable("--output-json", o.output_json);
        check_report_path(o);
    }
    load_runtime(*rt, o);

    const int in_flight = o.pipeline_batches_in_flight ? o.pipeline_batches_in_flight : rt->grid.pp_size;
    std::optional<BlockManager> blocks;
    std::optional<Driver> driver;
    if (is_driver) {
        blocks.emplace(rt->kv.n_blocks, rt->kv.block_size);
        DriverConfig dc{{o.max_num_seqs, rt->max_num_batched_tokens}, o.stop, o.ignore_eos, rt->cfg.eos_id, in_flight};
        driver.emplace(dc, &*tok, requests, *blocks);
    }
    const EngineStats st = serve(o, *rt, driver ? &*driver : nullptr, requests, in_flight);
    if (!is_driver) return 0;

    int exit_code = 0;
    for (const auto& s : requests)
        if (!s.error.empty()) {
            log_line(cat("error: request ", s.id, ": ", s.error));
            exit_code = 1;
        }
    if (!o.quiet) print_generations(requests);
    if (!o.output_json.empty()) write_text_file(o.output_json, requests_to_json(requests));
    log0("generated ", driver->n_generated(), " tokens for ", requests.size(), " requests in ", st.n_steps,
         " steps, ", format_seconds(st.seconds), " s (",
         format_seconds(double(driver->n_generated()) / std::max(st.seconds, 1e-9)), " tokens/s; ",
         driver->n_preemptions(), " preemptions)");
    return exit_code;
}

}  // namespace ls
