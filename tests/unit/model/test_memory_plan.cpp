// make_memory_plan against the engine itself: real checkpoints loaded by OptModel on the CPU backend at each
// tp and tp_rank (with a communicator that does nothing: loading needs no communication, and a forward pass
// allocates the same buffers whatever the collectives return), measured as engine/kv_sizing.cpp measures them.
// Also the published figures of opt-1.3b, the example in the README, and errors that name the flag.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "backend/cpu_backend.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_writer.h"
#include "config/model_config.h"
#include "config/options.h"
#include "core/check.h"
#include "model/kv_cache.h"
#include "model/memory_plan.h"
#include "model/opt.h"
#include "../fake_communicator.h"

using namespace ls;
namespace fs = std::filesystem;

namespace {

struct Settings {
    int max_model_len = 0;  // 0: the engine's defaults, as in MemoryPlanInput
    int max_num_batched_tokens = 0;
    int max_num_seqs = 256;
    int block_size = 16;
};

struct Measured {
    WeightBytes weights;
    int64_t activation = 0;
};

// The largest step, built the way engine/kv_sizing.cpp's profile_plan() builds it from profile_seq_lens(), with
// block tables as wide as a max_model_len sequence needs.
struct ProfileStep {
    std::vector<int32_t> token_ids, positions, slot_mapping, query_start{0}, block_tables, sample_rows;
    int max_blocks = 0, n_blocks = 0;
};

ProfileStep profile_step(int max_model_len, int max_num_batched_tokens, int max_num_seqs, int block_size) {
    ProfileStep s;
    const std::vector<int> lens = profile_seq_lens(max_model_len, max_num_batched_tokens, max_num_seqs);
    s.max_blocks = (max_model_len + block_size - 1) / block_size;
    for (int len : lens) {
        const int first_block = s.n_blocks, blocks = (len + block_size - 1) / block_size;
        for (int pos = 0; pos < len; pos++) {
            s.token_ids.push_back(4 + pos % 100);
            s.positions.push_back(pos);
            s.slot_mapping.push_back(first_block * block_size + pos);
        }
        for (int b = 0; b < s.max_blocks; b++) s.block_tables.push_back(b < blocks ? first_block + b : 0);
        s.n_blocks += blocks;
        s.query_start.push_back(int32_t(s.token_ids.size()));
        s.sample_rows.push_back(int32_t(s.token_ids.size()) - 1);
    }
    return s;
}

Buffer upload(Backend& be, const std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
    Buffer b = be.alloc(DType::I32, shape);
    if (!v.empty()) be.copy_from_host(b, v.data());
    return b;
}

// Loads the shards of tp_rank in stage pp_rank of pp and runs the profiling pass; the figures the engine would
// log for that rank.
Measured measure(const std::string& dir, int tp, int tp_rank, const Settings& st, int pp = 1, int pp_rank = 0,
                 const std::string& partition = "", DType weights = DType::F32) {
    const ModelConfig cfg = load_model_config(dir);
    const int max_model_len = st.max_model_len ? st.max_model_len : cfg.max_positions;
    const int max_tokens = st.max_num_batched_tokens ? st.max_num_batched_tokens : std::max(max_model_len, 2048);
    CpuBackend be(1, 1e9, weights);
    FakeCommunicator comm(tp_rank, tp), stages(pp_rank, pp);  // stage hand-offs do nothing either
    const Checkpoint ckpt = Checkpoint::open(dir);
    const PipelineStage stage{stage_layers(cfg.n_layers, pp, pp_rank, partition), pp_rank, pp, &stages};
    OptModel model(cfg, be, comm, stage, ckpt, max_tokens);

    const ProfileStep s = profile_step(max_model_len, max_tokens, st.max_num_seqs, st.block_size);
    KvCache kv = make_kv_cache(be, stage.layers.size(), s.n_blocks, st.block_size, model.d_local());
    be.reset_peak();
    const int64_t before = be.memory_usage().allocated;
    const int64_t n = int64_t(s.token_ids.size()), n_seqs = int64_t(s.sample_rows.size());
    Buffer token_ids = upload(be, s.token_ids, {n});
    Buffer positions = upload(be, s.positions, {n});
    Buffer slot_mapping = upload(be, s.slot_mapping, {n});
    Buffer query_start = upload(be, s.query_start, {n_seqs + 1});
    Buffer block_tables = upload(be, s.block_tables, {n_seqs, s.max_blocks});
    Buffer sample_rows = upload(be, s.sample_rows, {n_seqs});
    const StepInputs in{token_ids, slot_mapping, sample_rows, {query_start, positions, block_tables, st.block_size}};
    model.forward(in, kv);
    be.synchronize();
    return {model.weight_bytes(), model.activation_bytes() + (be.memory_usage().peak - before)};
}

MemoryPlanInput input_for(const std::string& dir, int tp, const Settings& st, int dtype_bytes = 4,
                          int weight_dtype_bytes = 0) {
    MemoryPlanInput in;
    in.cfg = load_model_config(dir);
    in.tp = tp;
    in.dtype_bytes = dtype_bytes;
    in.weight_dtype_bytes = weight_dtype_bytes;
    in.device_memory = 256.0 * 1024 * 1024;
    in.gpu_memory_utilization = 0.8;
    in.block_size = st.block_size;
    in.max_model_len = st.max_model_len;
    in.max_num_batched_tokens = st.max_num_batched_tokens;
    in.max_num_seqs = st.max_num_seqs;
    return in;
}

MemoryPlan plan_for(const std::string& dir, int tp, const Settings& st, int dtype_bytes = 4) {
    return make_memory_plan(input_for(dir, tp, st, dtype_bytes));
}

// Every stage of tp × pp: the plan's weights and activation peak are what each stage's ranks measure, and the
// KV blocks every rank uses are the fewest any stage could hold.
void check_every_stage(const std::string& dir, int tp, int pp, const std::string& partition = "") {
    MemoryPlanInput in = input_for(dir, tp, {});
    in.pp = pp;
    in.layer_partition = partition;
    const std::vector<MemoryPlan> stages = make_stage_plans(in);
    REQUIRE(int(stages.size()) == pp);
    int64_t fewest = stages[0].kv_blocks_local;
    for (int s = 0; s < pp; s++) {
        const MemoryPlan& p = stages[size_t(s)];
        const LayerRange layers = stage_layers(in.cfg.n_layers, pp, s, partition);
        CHECK(p.layer_begin == layers.begin);
        CHECK(p.layer_end == layers.end);
        fewest = std::min(fewest, p.kv_blocks_local);
        for (int tp_rank = 0; tp_rank < tp; tp_rank++) {
            CAPTURE(dir);
            CAPTURE(tp);
            CAPTURE(pp);
            CAPTURE(s);
            CAPTURE(tp_rank);
            const Measured m = measure(dir, tp, tp_rank, {}, pp, s, partition);
            CHECK(p.weight_bytes_sharded == m.weights.sharded);
            CHECK(p.weight_bytes_replicated == m.weights.replicated);
            CHECK(p.activation_bytes == m.activation);
        }
    }
    for (const MemoryPlan& p : stages) CHECK(p.kv_blocks == fewest);
}

// weights: the CPU backend's storage of them (F16, BF16: 2 bytes, activations and KV still fp32).
void check_every_rank(const std::string& dir, const std::vector<int>& tps, const Settings& st,
                      DType weights = DType::F32) {
    for (int tp : tps) {
        const MemoryPlan p = make_memory_plan(input_for(dir, tp, st, 4, int(dtype_size(weights))));
        for (int tp_rank = 0; tp_rank < tp; tp_rank++) {
            CAPTURE(dir);
            CAPTURE(tp);
            CAPTURE(tp_rank);
            CAPTURE(dtype_name(weights));
            const Measured m = measure(dir, tp, tp_rank, st, 1, 0, "", weights);
            CHECK(p.weight_bytes_sharded == m.weights.sharded);
            CHECK(p.weight_bytes_replicated == m.weights.replicated);
            CHECK(p.activation_bytes == m.activation);
        }
    }
}

// A fresh directory under /tmp, removed with everything in it at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("lockstep_test_memory_plan_" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

// opt-350m's shape in miniature: post-LN (no decoder-level final LN), embeddings of 32 projected to 48, and a
// vocabulary of 1001, which no tp > 1 divides (the last rank's block is padded).
void write_post_ln_projection_model(const fs::path& dir) {
    const int64_t h = 48, e = 32, f = 96, v = 1001, max_pos = 64, n_layers = 2;
    std::ofstream(dir / "config.json") << R"({"model_type": "opt", "vocab_size": 1001, "hidden_size": 48,
        "num_attention_heads": 12, "num_hidden_layers": 2, "ffn_dim": 96, "max_position_embeddings": 64,
        "word_embed_proj_dim": 32, "do_layer_norm_before": false, "activation_function": "relu"})";
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"embed_tokens.weight", {v, e}},  {"embed_positions.weight", {max_pos + 2, h}},
        {"project_in.weight", {h, e}},    {"project_out.weight", {e, h}},
    };
    for (int64_t l = 0; l < n_layers; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            shapes.push_back({p + "self_attn." + proj + ".weight", {h, h}});
            shapes.push_back({p + "self_attn." + proj + ".bias", {h}});
        }
        for (const char* ln : {"self_attn_layer_norm", "final_layer_norm"}) {
            shapes.push_back({p + ln + ".weight", {h}});
            shapes.push_back({p + ln + ".bias", {h}});
        }
        shapes.push_back({p + "fc1.weight", {f, h}});
        shapes.push_back({p + "fc1.bias", {f}});
        shapes.push_back({p + "fc2.weight", {h, f}});
        shapes.push_back({p + "fc2.bias", {h}});
    }
    std::vector<std::vector<float>> data;
    std::vector<NamedTensor> tensors;
    data.reserve(shapes.size());
    for (const auto& [name, shape] : shapes) {
        int64_t numel = 1;
        for (int64_t d : shape) numel *= d;
        std::vector<float> x(static_cast<size_t>(numel));
        for (size_t i = 0; i < x.size(); i++) x[i] = 0.02f * std::sin(float(i + data.size()));
        data.push_back(std::move(x));
        tensors.push_back({"model.decoder." + name, DType::F32, shape, data.back().data()});
    }
    write_safetensors((dir / "model.safetensors").string(), tensors);
}

std::string error_of(const MemoryPlanInput& in) {
    try {
        make_memory_plan(in);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// The lockstep binary next to this test's build folder (build/lockstep for build/tests/test_model), if built.
fs::path lockstep_binary() {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : self.parent_path().parent_path() / "lockstep";
}

// Runs `lockstep plan ARGS`; returns the exit code, with stdout and stderr in `out`.
int run_plan(const std::string& args, std::string& out) {
    const std::string cmd = lockstep_binary().string() + " plan " + args + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    out.clear();
    char buf[4096];
    while (size_t got = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, got);
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const std::string kTiny = LOCKSTEP_SHARED_DIR "/models/opt-tiny";
const std::string kTiny16h = LOCKSTEP_SHARED_DIR "/models/opt-tiny-16h";
const std::string kConfigs = LOCKSTEP_SOURCE_DIR "/configs/";
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace

TEST_CASE("memory plan: opt-tiny's weights and activation peak equal the engine's, every tp and tp_rank") {
    check_every_rank(kTiny, {1, 2, 4}, {});
    check_every_rank(kTiny, {2}, {64, 200, 8, 16});  // a ragged last sequence: 64, 64, 64, 8 tokens
    check_every_rank(kTiny, {4}, {128, 2048, 3, 5});   // max_num_seqs binds; blocks of 5 tokens
}

TEST_CASE("memory plan: pipeline stages, each stage's weights and activation peak equal the engine's") {
    check_every_stage(kTiny, 1, 2);
    check_every_stage(kTiny, 2, 2);
    check_every_stage(kTiny16h, 2, 4);
    check_every_stage(kTiny16h, 4, 3, "1,2,1");
}

// The batch-1 decode floor's bytes: a decode step streams every weight but the rows it looks up, so the
// position table never counts, and the token table counts only where the tied LM head reads it whole.
TEST_CASE("decode read bytes: every weight but the tables decode only looks rows up in") {
    const ModelConfig cfg = load_model_config(kTiny);
    const int64_t positions = int64_t(cfg.max_positions + 2) * cfg.d_model * 4;  // fp32 on the CPU backend
    for (int tp : {1, 2})
        for (int pp : {1, 2})
            for (int pp_rank = 0; pp_rank < pp; pp_rank++) {
                CAPTURE(tp);
                CAPTURE(pp_rank);
                CpuBackend be(1, 1e9);
                FakeCommunicator comm(0, tp), stages(pp_rank, pp);
                const Checkpoint ckpt = Checkpoint::open(kTiny);
                const PipelineStage stage{stage_layers(cfg.n_layers, pp, pp_rank, ""), pp_rank, pp, &stages};
                const OptModel model(cfg, be, comm, stage, ckpt, 64);
                const int64_t token_shard = (cfg.n_vocab + tp - 1) / tp * cfg.d_embed * 4;
                const bool first = pp_rank == 0, last = pp_rank == pp - 1;
                CHECK(model.decode_read_bytes() ==
                      model.weight_bytes().total() - (first ? positions : 0) - (first && !last ? token_shard : 0));
            }
}

// The weights at 2 bytes, and the activation peak with the fp32 panel that linears of more than
// kW16DirectRows rows widen the weights into (none when no step is that large).
TEST_CASE("memory plan: the CPU backend's 16-bit weights, every tp and tp_rank") {
    for (DType w : {DType::F16, DType::BF16}) {
        check_every_rank(kTiny, {1, 2}, {}, w);
        check_every_rank(kTiny, {2}, {64, 200, 8, 16}, w);
        check_every_rank(kTiny, {2}, {16, 16, 3, 16}, w);  // the LM head's 3 rows take the direct path
        check_every_rank(kTiny, {1}, {8, 8, 8, 16}, w);     // no linear of more than 8 rows: no panel
    }
    const MemoryPlan f32 = plan_for(kTiny, 2, {}), f16 = make_memory_plan(input_for(kTiny, 2, {}, 4, 2));
    CHECK(f16.weight_bytes * 2 == f32.weight_bytes);
    CHECK(f16.kv_bytes_per_token == f32.kv_bytes_per_token);  // the cache stays fp32
    CHECK(f16.activation_bytes == f32.activation_bytes + (int64_t(4) << 20));  // the 4 MiB panel
    CHECK(error_of(input_for(kTiny, 1, {}, 2, 4)).find("4-byte weights with 2-byte activations") !=
          std::string::npos);
}

TEST_CASE("memory plan: opt-tiny-16h up to tp 8") {
    check_every_rank(kTiny16h, {1, 2, 4, 8}, {});
}

TEST_CASE("memory plan: post-LN blocks, the embedding projection and a padded vocabulary") {
    TempDir tmp;
    write_post_ln_projection_model(tmp.path);
    const std::string dir = tmp.path.string();
    check_every_rank(dir, {1, 2, 3, 4}, {});
    check_every_rank(dir, {1, 3}, {}, DType::BF16);  // project_in and project_out in 16 bits
    check_every_rank(dir, {2}, {16, 16, 3, 16}, DType::F16);
    check_every_rank(dir, {3}, {40, 100, 16, 16});  // 40, 40, 20 tokens
    check_every_rank(dir, {4}, {64, 300, 3, 7});
    check_every_stage(dir, 2, 2);  // project_in on the first stage, project_out on the last
    const MemoryPlan p = plan_for(dir, 4, {});
    CHECK(p.embed_all_reduce_bytes_per_token == 32 * 4);  // word_embed_proj_dim, not hidden_size
    CHECK(p.gather_bytes_per_sample == 251 * 4 * 4);      // ceil(1001 / 4) rows per rank
}

TEST_CASE("memory plan: the README's start-up log of opt-tiny at tp 2, 256 MiB x 0.8") {
    const MemoryPlan p = plan_for(kTiny, 2, {});
    CHECK(p.weight_bytes == 6670080);
    CHECK(p.weight_bytes_sharded == 6633216);
    CHECK(p.weight_bytes_replicated == 36864);
    CHECK(p.activation_bytes == 81451012);  // logits of 256 sequences
    CHECK(p.kv_budget == 126627272);
    CHECK(p.kv_bytes_per_token == 512);
    CHECK(p.block_bytes == 8192);
    CHECK(p.kv_blocks == 15457);
    CHECK(p.token_capacity == 247312);
    CHECK(p.max_concurrency == doctest::Approx(1932.12));
    CHECK(p.all_reduces_per_step == 5);  // 2 layers x 2 + the embedding
    CHECK(all_reduce_bytes_per_step(p, 3) == 5 * 3 * 64 * 4);
    CHECK(gather_bytes_per_step(p, 2) == 2 * 25136 * 2 * 4);
    CHECK(gather_bytes_per_step(p, 2, true) == 2 * 2 * 8);  // each rank's row maximum and its index
    const MemoryPlan p1 = plan_for(kTiny, 1, {});
    CHECK(p1.all_reduces_per_step == 0);
    CHECK(p1.gather_bytes_per_sample == 0);
}

TEST_CASE("memory plan: opt-1.3b in float16, tp 1 and 2 (vLLM's weights per worker)") {
    MemoryPlanInput in;
    in.cfg = load_model_config(kConfigs + "opt-1.3b.json");
    in.dtype_bytes = 2;
    in.device_memory = 24e9;  // an L4
    in.gpu_memory_utilization = 0.8;
    in.tp = 1;
    const MemoryPlan p1 = make_memory_plan(in);
    in.tp = 2;
    const MemoryPlan p2 = make_memory_plan(in);
    // 1,315,758,080 parameters; at tp 2 each rank holds half of the split ones and all of the replicated.
    CHECK(p1.weight_bytes == 2631516160);
    CHECK(p2.weight_bytes == 1320255488);
    CHECK(p1.weight_bytes / kGiB == doctest::Approx(2.45).epsilon(0.002));
    CHECK(p2.weight_bytes / kGiB == doctest::Approx(1.23).epsilon(0.002));
    CHECK(p2.kv_bytes_per_token * 2 == p1.kv_bytes_per_token);
    CHECK(p2.kv_blocks > 2 * p1.kv_blocks);  // half the bytes per token, and more room left by the weights
}

TEST_CASE("memory plan: every configs/opt-*.json loads and splits as the engine would") {
    for (const std::string name : {"opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b", "opt-30b",
                                   "opt-66b"}) {
        CAPTURE(name);
        const ModelConfig c = load_model_config(kConfigs + name + ".json");
        CHECK(c.n_vocab == 50272);
        CHECK(c.max_positions == 2048);
        CHECK(c.pre_ln == (name != "opt-350m"));
        MemoryPlanInput in;
        in.cfg = c;
        in.tp = 4;  // divides every one's heads (12 to 72) and ffn_dim
        in.dtype_bytes = 2;
        in.device_memory = 80 * kGiB;
        CHECK(make_memory_plan(in).weight_bytes > 0);
    }
}

TEST_CASE("memory plan: bad inputs name the flag") {
    MemoryPlanInput in;
    in.cfg = load_model_config(kTiny);
    in.device_memory = 1e9;
    in.tp = 3;  // 4 heads
    CHECK(error_of(in).find("--tensor-parallel-size 3 does not divide num_attention_heads 4") != std::string::npos);
    in.tp = 0;
    CHECK(error_of(in).find("--tensor-parallel-size") != std::string::npos);
    in.tp = 1;
    in.dtype_bytes = 8;
    CHECK(error_of(in).find("--dtype") != std::string::npos);
    in.dtype_bytes = 4;
    in.max_model_len = 4096;  // opt-tiny has 128 positions
    CHECK(error_of(in).find("--max-model-len") != std::string::npos);
    in.max_model_len = 0;
    in.device_memory = 0;
    CHECK(error_of(in).find("--device-memory") != std::string::npos);
    CHECK_THROWS_WITH_AS(parse_size("24XB", "--device-memory"), doctest::Contains("--device-memory"), Error);
}

TEST_CASE("lockstep plan: exit codes and messages of the command line") {
    // ctest builds every target first, so a missing binary is a failure, not a skip.
    REQUIRE_MESSAGE(fs::exists(lockstep_binary()), "no lockstep binary at " << lockstep_binary());
    const std::string model = "--model " + kConfigs + "opt-1.3b.json --device-memory 24GB ";
    std::string out;
    CHECK(run_plan(model + "-tp 2 --gpu-memory-utilization 0.8 --dtype float16", out) == 0);
    CHECK(out.find("1320255488") != std::string::npos);
    // The CPU engine with 16-bit weights: the same weights as a GPU's float16, activations and KV in float32.
    CHECK(run_plan(model + "-tp 2 --gpu-memory-utilization 0.8 --dtype float16 --device cpu", out) == 0);
    CHECK(out.find("1320255488") != std::string::npos);
    CHECK(out.find("float32 activations and KV cache") != std::string::npos);
    CHECK(run_plan(model + "--device gpu", out) == 2);
    CHECK(out.find("--device must be cpu or cuda") != std::string::npos);
    CHECK(run_plan(model + "-tp 2 --json", out) == 0);
    CHECK(out.find("\"weight_bytes_sharded\"") != std::string::npos);
    CHECK(run_plan(model + "-tp 2 -pp 2", out) == 0);
    CHECK(out.find("stage 1 [12,24)") != std::string::npos);
    CHECK(run_plan(model + "-tp 2 -pp 2 --json", out) == 0);
    CHECK(out.find("\"stages\"") != std::string::npos);
    CHECK(run_plan(model + "-pp 2 --pipeline-layer-partition 10,10", out) == 2);
    CHECK(out.find("--pipeline-layer-partition") != std::string::npos);
    CHECK(run_plan(model + "-tp 2 --dtype int8", out) == 2);
    CHECK(out.find("--dtype") != std::string::npos);
    CHECK(run_plan(model + "-tp 3", out) == 2);
    CHECK(out.find("--tensor-parallel-size 3") != std::string::npos);
    CHECK(run_plan("--model " + kConfigs + "opt-1.3b.json --device-memory lots", out) == 2);
    CHECK(out.find("--device-memory") != std::string::npos);
    CHECK(run_plan(model + "-tp two", out) == 2);
    CHECK(out.find("tensor-parallel-size") != std::string::npos);
    CHECK(run_plan("--model /nonexistent/config.json --device-memory 1GB", out) == 2);
    CHECK(out.find("/nonexistent/config.json") != std::string::npos);
    CHECK(run_plan(model + "--device-memory 1GB", out) == 2);  // given twice
    CHECK(run_plan("--model " + kConfigs + "opt-1.3b.json --device-memory 2GB --dtype float16", out) == 1);
    CHECK(out.find("does not fit") != std::string::npos);
}
