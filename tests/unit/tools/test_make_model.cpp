// make-model: writes checkpoints that Checkpoint::open reads back with Hugging Face's OPT names, shapes and
// config.json; the 350m-style projection / post-LN layout; sharding with an index; reproducible bytes; and
// exit code 2 on bad flags.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "tools/make_model.h"
#include "tools/opt_layout.h"

using namespace ls;
namespace fs = std::filesystem;

namespace {

// A fresh directory under /tmp, removed with everything in it at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("lockstep_test_make_model_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Runs make_model_main with argv[0] = "make-model"; what it prints on stderr goes to `err`, and stdout
// (--help) is dropped.
int run(std::vector<std::string> args, std::string* err = nullptr) {
    args.insert(args.begin(), "make-model");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::ostringstream captured, dropped;
    std::streambuf* old_err = std::cerr.rdbuf(captured.rdbuf());
    std::streambuf* old_out = std::cout.rdbuf(dropped.rdbuf());
    const int rc = make_model_main(int(args.size()), argv.data());
    std::cerr.rdbuf(old_err);
    std::cout.rdbuf(old_out);
    if (err) *err = captured.str();
    return rc;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream f(path);
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::vector<float> read_all(const Checkpoint& ck, const std::string& name) {
    const TensorInfo* t = ck.find(name);
    REQUIRE_MESSAGE(t != nullptr, name);
    const int64_t rows = t->shape.size() == 2 ? t->shape[0] : 1;
    const int64_t cols = t->shape.back();
    std::vector<float> v(size_t(rows * cols));
    ck.read_f32(*t, 0, rows, 0, cols, v.data());
    return v;
}

void mean_std(const std::vector<float>& v, double& mean, double& sd) {
    double s = 0, s2 = 0;
    for (float x : v) s += x;
    mean = s / double(v.size());
    for (float x : v) s2 += (x - mean) * (x - mean);
    sd = std::sqrt(s2 / double(v.size()));
}

const std::string kShared = LOCKSTEP_SHARED_DIR;
const std::string kTokenizer = std::string(LOCKSTEP_SOURCE_DIR) + "/assets/opt-tokenizer";

}  // namespace

TEST_CASE("a tiny pre-LN model has opt-tiny's tensor names, shapes and config") {
    TempDir tmp;
    const std::string out = tmp / "tiny";
    REQUIRE(run({"--out", out, "--hidden", "64", "--layers", "2", "--heads", "4", "--ffn", "256",
                 "--max-positions", "128", "--dtype", "float32", "--seed", "7"}) == 0);
    CHECK(fs::is_regular_file(out + "/model.safetensors"));
    CHECK_FALSE(fs::exists(out + "/model.safetensors.index.json"));

    const Checkpoint ours = Checkpoint::open(out);
    CHECK(ours.names().size() == 4 + 16 * 2);
    CHECK(ours.find("lm_head.weight") == nullptr);
    for (const auto& name : ours.names()) CHECK(ours.find(name)->dtype == DType::F32);
    CHECK(ours.find("model.decoder.embed_tokens.weight")->shape == std::vector<int64_t>{50272, 64});
    CHECK(ours.find("model.decoder.embed_positions.weight")->shape == std::vector<int64_t>{130, 64});
    CHECK(ours.find("model.decoder.layers.1.fc1.weight")->shape == std::vector<int64_t>{256, 64});
    CHECK(ours.find("model.decoder.layers.1.fc2.weight")->shape == std::vector<int64_t>{64, 256});

    const nlohmann::json config = read_json(out + "/config.json");
    if (fs::exists(kShared + "/models/opt-tiny/config.json")) {
        // The same shape as the PyTorch-written opt-tiny: identical tensor table and config, except the two
        // fields that name the producer.
        const Checkpoint ref = Checkpoint::open(kShared + "/models/opt-tiny");
        REQUIRE(ours.names() == ref.names());
        for (const auto& name : ref.names()) CHECK(ours.find(name)->shape == ref.find(name)->shape);
        nlohmann::json expected = read_json(kShared + "/models/opt-tiny/config.json");
        for (const char* k : {"_name_or_path", "transformers_version"}) expected.erase(k);
        nlohmann::json got = config;
        for (const char* k : {"_name_or_path", "transformers_version"}) got.erase(k);
        CHECK(got.dump() == expected.dump());
    }
    CHECK(config["model_type"] == "opt");
    CHECK(config["architectures"] == nlohmann::json::array({"OPTForCausalLM"}));
    CHECK(config["hidden_size"] == 64);
    CHECK(config["word_embed_proj_dim"] == 64);
    CHECK(config["do_layer_norm_before"] == true);
    CHECK(config["torch_dtype"] == "float32");

    // Tokenizer files: copied byte for byte; OPT's special-token files written beside them.
    CHECK(read_bytes(out + "/vocab.json") == read_bytes(kTokenizer + "/vocab.json"));
    CHECK(read_bytes(out + "/merges.txt") == read_bytes(kTokenizer + "/merges.txt"));
    CHECK(read_json(out + "/tokenizer_config.json")["add_bos_token"] == true);
    CHECK(read_json(out + "/special_tokens_map.json")["pad_token"] == "<pad>");

    // Not degenerate: matrices ~ N(0, 0.02), biases ~ N(0, 0.01), layer-norm weights ~ 1 + N(0, 0.02).
    double mean = 0, sd = 0;
    mean_std(read_all(ours, "model.decoder.embed_tokens.weight"), mean, sd);
    CHECK(std::abs(mean) < 1e-3);
    CHECK(sd == doctest::Approx(0.02).epsilon(0.02));
    mean_std(read_all(ours, "model.decoder.layers.0.fc1.bias"), mean, sd);
    CHECK(sd > 0.005);
    CHECK(sd < 0.02);
    mean_std(read_all(ours, "model.decoder.layers.0.self_attn_layer_norm.weight"), mean, sd);
    CHECK(mean == doctest::Approx(1.0).epsilon(0.01));
    CHECK(sd > 0.01);
    // Distinct tensors get distinct streams.
    CHECK(read_all(ours, "model.decoder.layers.0.self_attn.q_proj.weight") !=
          read_all(ours, "model.decoder.layers.0.self_attn.k_proj.weight"));
}

TEST_CASE("dtypes: float16 by default, bfloat16 on request") {
    TempDir tmp;
    const std::vector<std::string> shape = {"--hidden", "32", "--layers", "1", "--heads", "2", "--vocab", "100",
                                            "--max-positions", "16"};
    auto with = [&](std::vector<std::string> extra, const std::string& dir) {
        extra.insert(extra.end(), shape.begin(), shape.end());
        extra.insert(extra.end(), {"--out", dir});
        return run(extra);
    };
    REQUIRE(with({}, tmp / "f16") == 0);
    REQUIRE(with({"--dtype", "bfloat16"}, tmp / "bf16") == 0);
    REQUIRE(with({"--dtype", "float32"}, tmp / "f32") == 0);
    const Checkpoint f16 = Checkpoint::open(tmp / "f16");
    const Checkpoint bf16 = Checkpoint::open(tmp / "bf16");
    const Checkpoint f32 = Checkpoint::open(tmp / "f32");
    CHECK(f16.find("model.decoder.layers.0.fc2.weight")->dtype == DType::F16);
    CHECK(bf16.find("model.decoder.layers.0.fc2.weight")->dtype == DType::BF16);
    CHECK(read_json(tmp / "f16/config.json")["torch_dtype"] == "float16");
    CHECK(read_json(tmp / "bf16/config.json")["torch_dtype"] == "bfloat16");
    CHECK(read_json(tmp / "f32/config.json")["ffn_dim"] == 128);  // default 4 · hidden
    // One seed, one set of values: the half-precision files are the float32 one rounded.
    const auto a = read_all(f32, "model.decoder.layers.0.fc1.weight");
    const auto b = read_all(f16, "model.decoder.layers.0.fc1.weight");
    REQUIRE(a.size() == b.size());
    // Round to nearest: within half an ulp, 2^-11 relative, or 2^-25 absolute among float16's subnormals.
    for (size_t i = 0; i < a.size(); ++i)
        CHECK(std::abs(a[i] - b[i]) <= std::max(std::abs(a[i]) * 0x1p-11f, 0x1p-25f));
}

TEST_CASE("opt-350m layout: projections, post-LN, no decoder-level final layer norm") {
    TempDir tmp;
    const std::string out = tmp / "350m";
    // The opt-350m preset with fewer layers and a small vocab, so it stays small; widths come from the preset.
    REQUIRE(run({"--out", out, "--preset", "opt-350m", "--layers", "1", "--vocab", "1000", "--max-positions",
                 "64"}) == 0);
    const Checkpoint ck = Checkpoint::open(out);
    const std::string p = "model.decoder.";
    CHECK(ck.find(p + "embed_tokens.weight")->shape == std::vector<int64_t>{1000, 512});
    CHECK(ck.find(p + "embed_positions.weight")->shape == std::vector<int64_t>{66, 1024});
    CHECK(ck.find(p + "project_in.weight")->shape == std::vector<int64_t>{1024, 512});
    CHECK(ck.find(p + "project_out.weight")->shape == std::vector<int64_t>{512, 1024});
    CHECK(ck.find(p + "project_in.bias") == nullptr);
    CHECK(ck.find(p + "final_layer_norm.weight") == nullptr);
    CHECK(ck.find(p + "layers.0.final_layer_norm.weight")->shape == std::vector<int64_t>{1024});
    CHECK(ck.find(p + "layers.0.fc1.weight")->shape == std::vector<int64_t>{4096, 1024});
    CHECK(ck.names().size() == 4 + 16);
    const nlohmann::json c = read_json(out + "/config.json");
    CHECK(c["do_layer_norm_before"] == false);
    CHECK(c["word_embed_proj_dim"] == 512);
    CHECK(c["hidden_size"] == 1024);
    CHECK(c["num_attention_heads"] == 16);
    CHECK(c["_remove_final_layer_norm"] == false);

    // The same layout from explicit flags.
    REQUIRE(run({"--out", tmp / "custom", "--hidden", "64", "--layers", "1", "--heads", "4",
                 "--word-embed-proj-dim", "32", "--post-ln", "--vocab", "100", "--max-positions", "16"}) == 0);
    const Checkpoint custom = Checkpoint::open(tmp / "custom");
    CHECK(custom.find(p + "project_in.weight")->shape == std::vector<int64_t>{64, 32});
    CHECK(custom.find(p + "final_layer_norm.bias") == nullptr);
    CHECK(read_json(tmp / "custom/config.json")["do_layer_norm_before"] == false);
}

TEST_CASE("presets have the published shapes") {
    const OptShape* s = find_opt_preset("opt-1.3b");
    REQUIRE(s);
    CHECK(s->d_model == 2048);
    CHECK(s->n_layers == 24);
    CHECK(s->n_heads == 32);
    CHECK(s->d_ff == 8192);
    CHECK(s->max_positions == 2048);
    CHECK(s->n_vocab == 50272);
    int64_t n_params = 0;
    for (const auto& t : opt_tensor_specs(*s)) n_params += t.numel();
    CHECK(n_params == 1315758080);  // OPTForCausalLM.from_pretrained("facebook/opt-1.3b").num_parameters()
    CHECK(find_opt_preset("opt-66b")->n_heads == 72);
    CHECK(find_opt_preset("opt-30b")->d_ff == 28672);
    for (const auto& name : opt_preset_names()) {
        REQUIRE(find_opt_preset(name));
        CHECK_NOTHROW(validate_opt_shape(*find_opt_preset(name)));
    }
    CHECK(find_opt_preset("opt-175b") == nullptr);
}

TEST_CASE("--max-shard-size writes shards and an index that covers every tensor") {
    TempDir tmp;
    const std::vector<std::string> shape = {"--hidden", "64", "--layers", "3", "--heads", "4", "--vocab", "1000",
                                            "--max-positions", "32", "--seed", "3"};
    auto make = [&](const std::string& dir, std::vector<std::string> extra) {
        extra.insert(extra.end(), shape.begin(), shape.end());
        extra.insert(extra.end(), {"--out", dir});
        return run(extra);
    };
    REQUIRE(make(tmp / "sharded", {"--max-shard-size", "100KB"}) == 0);
    REQUIRE(make(tmp / "single", {}) == 0);

    const nlohmann::json index = read_json(tmp / "sharded/model.safetensors.index.json");
    const nlohmann::json& wm = index["weight_map"];
    const Checkpoint sharded = Checkpoint::open(tmp / "sharded");
    const Checkpoint single = Checkpoint::open(tmp / "single");
    REQUIRE(sharded.names() == single.names());
    CHECK(wm.size() == single.names().size());
    std::set<std::string> files;
    uint64_t total = 0;
    for (const auto& name : single.names()) {
        REQUIRE(wm.contains(name));
        files.insert(wm[name].get<std::string>());
        total += single.find(name)->nbytes;
        // Sharding changes where bytes live, never what they are.
        CHECK(read_all(sharded, name) == read_all(single, name));
    }
    CHECK(index["metadata"]["total_size"] == total);
    CHECK(files.size() > 2);
    std::set<std::string> expected_files;  // transformers' names: model-00001-of-0000N.safetensors ...
    for (size_t i = 1; i <= files.size(); ++i) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i, files.size());
        expected_files.insert(name);
        CHECK(fs::is_regular_file(tmp / ("sharded/" + std::string(name))));
    }
    CHECK(files == expected_files);
    CHECK_FALSE(fs::exists(tmp / "sharded/model.safetensors"));

    // Re-using a directory without sharding leaves no stale index or shards behind.
    REQUIRE(make(tmp / "sharded", {}) == 0);
    CHECK_FALSE(fs::exists(tmp / "sharded/model.safetensors.index.json"));
    for (const auto& f : files) CHECK_FALSE(fs::exists(tmp / ("sharded/" + f)));
    CHECK(read_bytes(tmp / "sharded/model.safetensors") == read_bytes(tmp / "single/model.safetensors"));
}

TEST_CASE("the same seed gives identical bytes, another seed other weights") {
    TempDir tmp;
    auto make = [&](const std::string& dir, const std::string& seed) {
        return run({"--out", dir, "--hidden", "48", "--layers", "2", "--heads", "3", "--vocab", "500",
                    "--max-positions", "20", "--seed", seed});
    };
    REQUIRE(make(tmp / "a", "12345") == 0);
    REQUIRE(make(tmp / "b", "12345") == 0);
    REQUIRE(make(tmp / "c", "12346") == 0);
    const std::string a = read_bytes(tmp / "a/model.safetensors");
    CHECK(a.size() > 100000);
    CHECK(a == read_bytes(tmp / "b/model.safetensors"));
    CHECK(a.size() == read_bytes(tmp / "c/model.safetensors").size());
    CHECK(a != read_bytes(tmp / "c/model.safetensors"));
    CHECK(read_bytes(tmp / "a/config.json") == read_bytes(tmp / "b/config.json"));
}

TEST_CASE("bad flags print a message naming the flag and return 2") {
    TempDir tmp;
    const std::string out = tmp / "m";
    const std::vector<std::string> ok = {"--out", out, "--hidden", "64", "--layers", "1", "--heads", "4"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = ok;
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    };
    struct Case {
        std::vector<std::string> args;
        std::string flag;
    };
    const std::vector<Case> cases = {
        {{"--hidden", "64", "--layers", "1", "--heads", "4"}, "--out"},
        {{"--out", out, "--layers", "1", "--heads", "4"}, "--hidden"},
        {{"--out", out, "--preset", "opt-7b"}, "--preset"},
        {with({"--bogus", "1"}), "--bogus"},
        {with({"--heads", "5"}), "--heads"},
        {with({"--hidden", "abc"}), "--hidden"},
        {with({"--hidden", "0"}), "--hidden"},
        {with({"--layers=-1"}), "--layers"},
        {with({"--ffn", "0"}), "--ffn"},
        {with({"--vocab", "0"}), "--vocab"},
        {with({"--dtype", "int8"}), "--dtype"},
        {with({"--std=-0.1"}), "--std"},
        {with({"--seed=-3"}), "--seed"},
        {with({"--max-shard-size", "2XB"}), "--max-shard-size"},
        {with({"--max-shard-size", "0"}), "--max-shard-size"},
        {with({"--tokenizer", (tmp.path / "nowhere").string()}), "--tokenizer"},
        {with({"stray"}), "'stray'"},
    };
    for (const auto& c : cases) {
        std::string err;
        CHECK_MESSAGE(run(c.args, &err) == 2, c.flag);
        CHECK_MESSAGE(err.find(c.flag) != std::string::npos, err);
    }
    CHECK_FALSE(fs::exists(out));  // nothing is written when the flags are bad

    // A file where the output directory should be.
    std::ofstream(tmp / "file") << "x";
    std::string err;
    CHECK(run({"--out", tmp / "file", "--hidden", "8", "--layers", "1", "--heads", "2"}, &err) == 2);
    CHECK(err.find("--out") != std::string::npos);

    CHECK(run({"--help"}) == 0);
}
