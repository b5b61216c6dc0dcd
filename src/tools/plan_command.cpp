// `lockstep plan`: flags (the names of `lockstep generate`) → MemoryPlanInput → make_memory_plan → a table
// or JSON. A plain process: the prediction needs only config.json, so it answers "how many GPUs, how many KV
// blocks" for models far larger than this machine could load.
#include "tools/plan_command.h"
#include "tools/cli_flags.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/model_config.h"
#include "config/options.h"
#include "core/check.h"
#include "core/log.h"
#include "model/memory_plan.h"

namespace ls {
namespace {

namespace po = boost::program_options;

struct PlanOptions {
    std::string model;
    int tp = 1, pp = 1;
    std::string layer_partition;
    std::string dtype = "float32";
    std::string device = "cuda";
    std::string device_memory;
    double gpu_memory_utilization = 0.9;
    int block_size = 16;
    int max_model_len = 0;
    int max_num_seqs = 256;
    int max_num_batched_tokens = 0;
    bool json = false;
};

po::options_description describe(PlanOptions& o) {
    po::options_description d(
        "lockstep plan: predict each rank's weights, activation peak, KV blocks and collectives from\n"
        "config.json alone (no weights loaded, no MPI). Exit code 0: it fits; 1: no KV block would be left");
    d.add_options()
        ("help,h", "show this help")
        ("model", po::value(&o.model)->required(), "model directory or its config.json")
        ("tensor-parallel-size", po::value(&o.tp)->default_value(1), "tensor-parallel ranks (-tp)")
        ("pipeline-parallel-size", po::value(&o.pp)->default_value(1), "pipeline stages (-pp): a column each")
        ("pipeline-layer-partition", po::value(&o.layer_partition),
         "layers per stage, e.g. 10,14 (default: an even split)")
        ("device-memory", po::value(&o.device_memory)->required(),
         "memory of one rank's device, e.g. 24GB (an L4), 80GiB, 22.5GiB")
        ("gpu-memory-utilization", po::value(&o.gpu_memory_utilization)->default_value(0.9, "0.9"),
         "fraction of the device memory for weights, activations and the KV cache")
        ("dtype", po::value(&o.dtype)->default_value("float32"),
         "float32 (also auto), float16 or bfloat16: bytes of weights, activations and KV (--device cpu: of the "
         "weights)")
        ("device", po::value(&o.device)->default_value("cuda"),
         "cuda: everything in --dtype; cpu: the CPU engine, whose activations and KV cache are float32 and which "
         "stores the weights in --dtype (the same figures in float32)")
        ("block-size", po::value(&o.block_size)->default_value(16), "tokens per KV-cache block")
        ("max-model-len", po::value(&o.max_model_len)->default_value(0),
         "longest sequence in tokens (default: the model's max_position_embeddings)")
        ("max-num-seqs", po::value(&o.max_num_seqs)->default_value(256), "most sequences in one step")
        ("max-num-batched-tokens", po::value(&o.max_num_batched_tokens)->default_value(0),
         "most tokens in one step, the profiling pass's size (default: max(max-model-len, 2048))")
        ("json", po::bool_switch(&o.json), "print JSON instead of the table");
    return d;
}

int dtype_bytes(const std::string& dtype) {
    if (dtype == "float32" || dtype == "auto") return 4;
    if (dtype == "float16" || dtype == "bfloat16") return 2;
    raise("--dtype must be float32, float16 or bfloat16 (auto = float32, as the CPU engine), got \"", dtype, "\"");
}

// Parses and checks the flags; nullopt after --help. Throws ls::Error naming the flag at fault.
std::optional<MemoryPlanInput> parse(int argc, char** argv, PlanOptions& o) {
    const po::options_description desc = describe(o);
    ParsedFlags flags;
    try {
        flags = parse_flags_with_strays(spell_out_parallel_aliases(argc, argv, 1), desc);
        if (flags.vm.count("help")) {
            std::cout << desc << "\n";
            return std::nullopt;
        }
        po::notify(flags.vm);
    } catch (const po::error& e) {
        raise(e.what(), "\n(see lockstep plan --help)");
    }
    if (!flags.strays.empty()) raise("unexpected argument '", flags.strays[0], "'");
    ENSURE(o.pp >= 1, "--pipeline-parallel-size must be at least 1, got ", o.pp);

    MemoryPlanInput in;
    in.tp = o.tp;
    ENSURE(o.device == "cuda" || o.device == "cpu", "--device must be cpu or cuda, got \"", o.device, "\"");
    in.dtype_bytes = o.device == "cpu" ? 4 : dtype_bytes(o.dtype);
    in.weight_dtype_bytes = dtype_bytes(o.dtype);
    in.device_memory = parse_size(o.device_memory, "--device-memory");
    in.gpu_memory_utilization = o.gpu_memory_utilization;
    in.block_size = o.block_size;
    in.max_model_len = o.max_model_len;
    in.max_num_seqs = o.max_num_seqs;
    in.max_num_batched_tokens = o.max_num_batched_tokens;
    in.pp = o.pp;
    in.layer_partition = o.layer_partition;
    ENSURE(o.tp >= 1, "--tensor-parallel-size must be at least 1, got ", o.tp);
    in.cfg = load_model_config(o.model);  // names the file and field at fault
    return in;
}

// format_bytes, with a sign: a budget is negative when the weights alone do not fit.
// (cat, not "-" + string: GCC 12 warns of an overlapping memcpy inside that operator+, a false positive.)
std::string human(double bytes) { return bytes < 0 ? cat("-", format_bytes(-bytes)) : format_bytes(bytes); }

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// One line of figures: a column per stage, and with one stage a readable size after it.
struct Table {
    const std::vector<MemoryPlan>& stages;
    void row(const std::string& what, int64_t (*get)(const MemoryPlan&), bool readable = false) const {
        std::printf("  %-58s", what.c_str());
        for (const MemoryPlan& p : stages) std::printf(" %16lld", static_cast<long long>(get(p)));
        if (readable && stages.size() == 1) std::printf("  %s", human(double(get(stages[0]))).c_str());
        std::printf("\n");
    }
};

void print_table(const PlanOptions& o, const MemoryPlanInput& in, const std::vector<MemoryPlan>& stages) {
    const ModelConfig& c = in.cfg;
    const MemoryPlan& p = stages[0];  // the settings, alike in every stage
    const bool one = stages.size() == 1;
    std::printf("lockstep plan: %s\n", c.source.c_str());
    std::printf("  OPT, %d layers, hidden %d, %d heads, ffn %d, vocab %d, %s%s\n", c.n_layers, c.d_model, c.n_heads,
                c.d_ff, c.n_vocab, c.pre_ln ? "pre-LN" : "post-LN",
                c.has_projection() ? cat(", word_embed_proj_dim ", c.d_embed).c_str() : "");
    // --device cpu names itself; with 16-bit weights the dtype takes a line of its own.
    const std::string dtype = p.weight_dtype_bytes == p.dtype_bytes
                                  ? cat("dtype ", o.dtype, " (", p.dtype_bytes, " bytes), ")
                                  : cat(o.dtype, " weights (", p.weight_dtype_bytes,
                                        " bytes), float32 activations and KV cache (4 bytes),\n  ");
    std::printf("  tp %d, pp %d, %sdevice %s%s (%.0f bytes) x %g, block size %d,\n", p.tp, p.pp, dtype.c_str(),
                o.device == "cpu" ? "cpu " : "", format_bytes(p.device_memory).c_str(), p.device_memory,
                p.gpu_memory_utilization, p.block_size);
    std::printf("  max_model_len %d, max_num_batched_tokens %d, max_num_seqs %d\n\n", p.max_model_len,
                p.max_num_batched_tokens, p.max_num_seqs);

    std::printf("%-60s", one ? cat("per rank (tp ", p.tp, ": every rank of the group alike)").c_str()
                             : cat("per rank of each stage (tp ", p.tp, " ranks alike)").c_str());
    for (const MemoryPlan& s : stages)
        std::printf(" %16s", one ? "bytes" : cat("stage ", s.pp_rank, " [", s.layer_begin, ",", s.layer_end, ")").c_str());
    std::printf("\n");
    const Table t{stages};
    t.row("weights", [](const MemoryPlan& s) { return s.weight_bytes; }, true);
    t.row("  sharded (1/tp of each split tensor)", [](const MemoryPlan& s) { return s.weight_bytes_sharded; });
    t.row("  replicated (norms, positions, row-parallel biases)",
          [](const MemoryPlan& s) { return s.weight_bytes_replicated; });
    t.row(cat("activation peak (profiled at ", p.max_num_batched_tokens, " tokens)"),
          [](const MemoryPlan& s) { return s.activation_bytes; }, true);
    t.row(cat("  workspace (", p.max_num_batched_tokens, " rows)"), [](const MemoryPlan& s) { return s.workspace_bytes; });
    t.row(one ? cat("  step arrays + logits (", p.profile_tokens, " tokens, ", p.profile_seqs, " sampled)")
              : std::string("  step arrays (+ logits on the last stage)"),
          [](const MemoryPlan& s) { return s.transient_bytes; });
    t.row(cat("KV budget = ", p.gpu_memory_utilization, " x device - weights - activations"),
          [](const MemoryPlan& s) { return s.kv_budget; }, true);
    t.row(one ? cat("KV bytes per token (2 x ", c.n_layers, " layers x ", c.d_model / p.tp, " x ", p.dtype_bytes, " B)")
              : cat("KV bytes per token (2 x its layers x ", c.d_model / p.tp, " x ", p.dtype_bytes, " B)"),
          [](const MemoryPlan& s) { return s.kv_bytes_per_token; });
    t.row(cat("bytes per block (", p.block_size, " tokens)"), [](const MemoryPlan& s) { return s.block_bytes; });
    if (!one) t.row("KV blocks this stage could hold", [](const MemoryPlan& s) { return s.kv_blocks_local; });
    t.row(one ? "# KV blocks (per worker)" : "# KV blocks (per worker: the fewest of any stage)",
          [](const MemoryPlan& s) { return s.kv_blocks; });
    t.row("token capacity", [](const MemoryPlan& s) { return s.token_capacity; });
    t.row("KV cache (token capacity x bytes per token)",
          [](const MemoryPlan& s) { return s.token_capacity * s.kv_bytes_per_token; }, true);
    std::printf("  %-58s %16s\n\n", cat("maximum concurrency for ", p.max_model_len, " tokens per request").c_str(),
                fmt("%.2fx", p.max_concurrency).c_str());

    std::printf("per step of n tokens, s of them sampled (a decode step: n = s = running sequences)\n");
    for (const MemoryPlan& s : stages) {
        const std::string who = one ? "" : cat("stage ", s.pp_rank, ", ");
        if (p.tp == 1) {
            std::printf("  %sno collectives at tp 1\n", who.c_str());
        } else {
            std::printf("  %sall-reduces: %lld = 2 x %lld layers%s, each n x %d x %d bytes\n", who.c_str(),
                        static_cast<long long>(s.all_reduces_per_step), static_cast<long long>(s.n_layers()),
                        s.first() ? " + 1 (embedding)" : "", c.d_model, s.dtype_bytes);
            if (c.has_projection() && s.first())
                std::printf("    (the embedding's is n x %d x %d bytes: word_embed_proj_dim)\n", c.d_embed,
                            s.dtype_bytes);
            if (s.gathers_per_step)
                std::printf("  %slogits gather to tp_rank 0 (fp32): s x %lld x %d ranks x 4 bytes\n"
                            "  %sgreedy steps gather each rank's row maxima instead: s x %d ranks x 8 bytes\n",
                            who.c_str(), static_cast<long long>(s.gather_bytes_per_sample / p.tp / 4), p.tp,
                            who.c_str(), p.tp);
            for (int64_t n : {int64_t(1), int64_t(p.max_num_seqs)})
                std::printf("  %sdecode step of %lld sequence(s): all-reduces %lld bytes, gather %lld bytes%s\n",
                            who.c_str(), static_cast<long long>(n),
                            static_cast<long long>(all_reduce_bytes_per_step(s, n)),
                            static_cast<long long>(gather_bytes_per_step(s, n)),
                            s.gathers_per_step ? cat(" (greedy ", gather_bytes_per_step(s, n, true), ")").c_str() : "");
        }
        if (s.stage_sends_per_step)
            std::printf("  %shidden states to stage %d: n x %d x %d bytes from each rank to its peer\n", who.c_str(),
                        s.pp_rank + 1, c.d_model, s.dtype_bytes);
    }
    if (!p.fits()) {
        const MemoryPlan& w = *std::min_element(stages.begin(), stages.end(), [](const MemoryPlan& a, const MemoryPlan& b) {
            return a.kv_blocks_local < b.kv_blocks_local;
        });
        std::printf("\ndoes not fit: %s%g x %s leaves %s after the weights and activations, less than one block "
                    "(%lld bytes);\nthe engine would stop with \"no memory left for the KV cache\". Raise -tp%s or "
                    "--device-memory.\n",
                    one ? "" : cat("on stage ", w.pp_rank, ", ").c_str(), w.gpu_memory_utilization,
                    format_bytes(w.device_memory).c_str(), human(double(w.kv_budget)).c_str(),
                    static_cast<long long>(w.block_bytes), one ? "" : ", -pp");
    }
}

nlohmann::json plan_json(const MemoryPlan& p) {
    nlohmann::json j;
    for (const auto& [name, value] : memory_plan_fields(p)) {
        // Counts and bytes as integers (exact below 2^53); fractions such as the utilization as they are.
        if (value == std::floor(value) && std::fabs(value) < 0x1p53)
            j[name] = int64_t(value);
        else
            j[name] = value;
    }
    j["decode_step_1_seq"] = {{"all_reduce_bytes", all_reduce_bytes_per_step(p, 1)},
                              {"gather_bytes", gather_bytes_per_step(p, 1)},
                              {"greedy_gather_bytes", gather_bytes_per_step(p, 1, true)}};
    j["decode_step_max_num_seqs"] = {{"n_seqs", p.max_num_seqs},
                                     {"all_reduce_bytes", all_reduce_bytes_per_step(p, p.max_num_seqs)},
                                     {"gather_bytes", gather_bytes_per_step(p, p.max_num_seqs)},
                                     {"greedy_gather_bytes", gather_bytes_per_step(p, p.max_num_seqs, true)}};
    return j;
}

// The first stage's figures at the top level (all of them with one stage), and every stage's in "stages".
void print_json(const PlanOptions& o, const MemoryPlanInput& in, const std::vector<MemoryPlan>& stages) {
    nlohmann::json j = plan_json(stages[0]);
    j["model"] = o.model;
    j["config"] = in.cfg.source;
    j["dtype"] = o.dtype;
    j["device"] = o.device;
    j["fits"] = stages[0].fits();
    j["stages"] = nlohmann::json::array();
    for (const MemoryPlan& s : stages) j["stages"].push_back(plan_json(s));
    std::cout << j.dump(2) << "\n";
}

}  // namespace

int plan_main(int argc, char** argv) {
    PlanOptions o;
    MemoryPlanInput in;
    std::vector<MemoryPlan> stages;
    try {
        std::optional<MemoryPlanInput> parsed = parse(argc, argv, o);
        if (!parsed) return 0;
        in = *parsed;
        stages = make_stage_plans(in);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    if (o.json)
        print_json(o, in, stages);
    else
        print_table(o, in, stages);
    return stages[0].fits() ? 0 : 1;
}

}  // namespace ls
