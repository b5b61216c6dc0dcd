// Checkpoint::open on the real tiny OPT checkpoints (three formats, same weights) and on hand-made directories:
// discovery, sharding with an index, and the errors for missing or inconsistent files.
#include <algorithm>
#include <cstring>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_writer.h"
#include "fixtures.h"

using namespace ls;
using namespace ls::test;

namespace {

std::vector<float> read_all(const Checkpoint& ck, const TensorInfo& t) {
    const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    const int64_t cols = t.shape.back();
    std::vector<float> out(size_t(rows * cols));
    ck.read_f32(t, 0, rows, 0, cols, out.data());
    return out;
}

// The 36 tensors of a 2-layer OPT with d_model 64, d_ff 256, and no lm_head (tied to embed_tokens).
std::vector<std::pair<std::string, std::vector<int64_t>>> opt_tiny_tensors() {
    std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
        {"model.decoder.embed_positions.weight", {130, 64}},
        {"model.decoder.embed_tokens.weight", {50272, 64}},
        {"model.decoder.final_layer_norm.bias", {64}},
        {"model.decoder.final_layer_norm.weight", {64}}};
    for (int l = 0; l < 2; l++) {
        const std::string p = "model.decoder.layers." + std::to_string(l) + ".";
        for (const char* n : {"self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj"}) {
            out.push_back({p + n + ".weight", {64, 64}});
            out.push_back({p + n + ".bias", {64}});
        }
        out.push_back({p + "fc1.weight", {256, 64}});
        out.push_back({p + "fc1.bias", {256}});
        out.push_back({p + "fc2.weight", {64, 256}});
        out.push_back({p + "fc2.bias", {64}});
        out.push_back({p + "self_attn_layer_norm.weight", {64}});
        out.push_back({p + "self_attn_layer_norm.bias", {64}});
        out.push_back({p + "final_layer_norm.weight", {64}});
        out.push_back({p + "final_layer_norm.bias", {64}});
    }
    return out;
}

void check_table(const Checkpoint& ck, DType dtype) {
    const auto expected = opt_tiny_tensors();
    CHECK(ck.names().size() == expected.size());
    for (const auto& [name, shape] : expected) {
        CAPTURE(name);
        const TensorInfo* t = ck.find(name);
        REQUIRE(t != nullptr);
        CHECK(t->shape == shape);
        CHECK(t->dtype == dtype);
        CHECK(t->nbytes == uint64_t(shape[0] * (shape.size() == 2 ? shape[1] : 1)) * dtype_size(dtype));
    }
    CHECK(ck.find("lm_head.weight") == nullptr);
}

}  // namespace

TEST_CASE("real checkpoints: the three formats hold the same tensors") {
    const Checkpoint st = Checkpoint::open(kModels + "/opt-tiny");
    const Checkpoint f16 = Checkpoint::open(kModels + "/opt-tiny-fp16");
    const Checkpoint bin = Checkpoint::open(kModels + "/opt-tiny-bin");
    CHECK(st.format() == "safetensors");
    CHECK(f16.format() == "safetensors");
    CHECK(bin.format() == "pytorch_bin");
    CHECK(bin.dir() == kModels + "/opt-tiny-bin");
    check_table(st, DType::F32);
    check_table(f16, DType::F16);
    check_table(bin, DType::F32);
    CHECK(st.find("model.decoder.embed_tokens.weight")->file == kModels + "/opt-tiny/model.safetensors");
    CHECK(bin.find("model.decoder.embed_tokens.weight")->file == kModels + "/opt-tiny-bin/pytorch_model.bin");

    uint64_t total = 0;
    for (const std::string& name : st.names()) {
        CAPTURE(name);
        const std::vector<float> a = read_all(st, *st.find(name));
        const std::vector<float> b = read_all(bin, *bin.find(name));
        const std::vector<float> h = read_all(f16, *f16.find(name));
        CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);  // the same weights, bit for bit
        size_t mismatches = 0;
        for (size_t k = 0; k < a.size(); k++) mismatches += h[k] != f16_to_f32(f32_to_f16(a[k]));
        CHECK(mismatches == 0);  // torch's .half() rounds to nearest even, like f32_to_f16
        total += a.size();
    }
    CHECK(st.bytes_read() == total * 4);
    CHECK(bin.bytes_read() == total * 4);
    CHECK(f16.bytes_read() == total * 2);
}

TEST_CASE("real checkpoints: row and column slices equal the slice of a full read") {
    for (const char* model : {"opt-tiny", "opt-tiny-fp16", "opt-tiny-bin"}) {
        CAPTURE(model);
        const Checkpoint ck = Checkpoint::open(kModels + "/" + model);
        const TensorInfo& w = *ck.find("model.decoder.layers.1.fc1.weight");  // [256, 64]
        const std::vector<float> full = read_all(ck, w);
        const uint64_t before = ck.bytes_read();
        std::vector<float> part(size_t(40 * 27));
        ck.read_f32(w, 100, 140, 5, 32, part.data());
        CHECK(ck.bytes_read() - before == 40 * 27 * dtype_size(w.dtype));
        size_t bad = 0;
        for (int r = 0; r < 40; r++)
            for (int c = 0; c < 27; c++) bad += part[size_t(r * 27 + c)] != full[size_t((100 + r) * 64 + 5 + c)];
        CHECK(bad == 0);

        const TensorInfo& emb = *ck.find("model.decoder.embed_tokens.weight");  // [50272, 64], last rows
        std::vector<float> rows(size_t(3 * 64)), one(1);
        ck.read_f32(emb, 50269, 50272, 0, 64, rows.data());
        ck.read_f32(emb, 50271, 50272, 63, 64, one.data());
        CHECK(one[0] == rows.back());

        const TensorInfo& b = *ck.find("model.decoder.layers.0.fc1.bias");  // [256]
        const std::vector<float> bias = read_all(ck, b);
        std::vector<float> cols(10);
        ck.read_f32(b, 0, 1, 246, 256, cols.data());
        CHECK(std::equal(cols.begin(), cols.end(), bias.end() - 10));

        CHECK_HAS(error_of([&] { ck.read_f32(w, 0, 257, 0, 64, part.data()); }),
                  "tensor 'model.decoder.layers.1.fc1.weight': rows [0, 257) x columns [0, 64) fall outside");
        CHECK_HAS(error_of([&] { ck.read_f32(b, 0, 1, 5, 4, part.data()); }),
                  "tensor 'model.decoder.layers.0.fc1.bias': rows [0, 1) x columns [5, 4) fall outside");
        TensorInfo forged = w;
        forged.offset += 4;
        CHECK_HAS(error_of([&] { ck.read_f32(forged, 0, 1, 0, 1, part.data()); }), "is not a tensor of the checkpoint");
    }
}

TEST_CASE("directory errors") {
    TempDir dir;
    CHECK_HAS(error_of([&] { Checkpoint::open(dir.file("nope")); }),
              "model directory '" + dir.file("nope") + "' does not exist");
    write_file(dir.file("plain"), "x");
    // (std::string("'") +, not "'" +: GCC 12 warns of an overlapping memcpy in that operator+, a false positive.)
    CHECK_HAS(error_of([&] { Checkpoint::open(dir.file("plain")); }),
              std::string("'") + dir.file("plain") + "' is not a directory");
    const std::string msg = error_of([&] { Checkpoint::open(dir.str()); });
    CHECK_HAS(msg, dir.str() + ": no weights file found");
    CHECK_HAS(msg, "model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json");
    write_file(dir.file("model.safetensors"), "");
    CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), dir.file("model.safetensors") + ": too short");
    write_file(dir.file("model.safetensors"), safetensors_bytes("{oops", ""));
    CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), dir.file("model.safetensors") + ": header is not valid JSON");
}

TEST_CASE("safetensors preferred over pytorch_model.bin") {
    TempDir dir;
    const float x = 2;
    write_safetensors(dir.file("model.safetensors"), {{"x", DType::F32, {1}, &x}});
    write_file(dir.file("pytorch_model.bin"), "garbage");
    const Checkpoint ck = Checkpoint::open(dir.str());
    CHECK(ck.format() == "safetensors");
    CHECK(ck.names() == std::vector<std::string>{"x"});
}

TEST_CASE("sharded safetensors with an index open as one table") {
    TempDir dir;
    const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6};
    write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"w.a", DType::F32, {2, 2}, a.data()}});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                      {{"w.b", DType::F32, {2}, b.data()}, {"w.c", DType::F32, {1}, b.data()}});
    const std::string index = dir.file("model.safetensors.index.json");
    write_file(index, R"({"metadata":{"total_size":28},"weight_map":{"w.a":"model-00001-of-00002.safetensors",)"
                      R"("w.b":"model-00002-of-00002.safetensors","w.c":"model-00002-of-00002.safetensors"}})");
    {
        const Checkpoint ck = Checkpoint::open(dir.str());
        CHECK(ck.format() == "safetensors");
        CHECK(ck.names() == std::vector<std::string>{"w.a", "w.b", "w.c"});
        CHECK(ck.find("w.b")->file == dir.file("model-00002-of-00002.safetensors"));
        std::vector<float> out(4);
        ck.read_f32(*ck.find("w.a"), 1, 2, 0, 2, out.data());
        CHECK(out[0] == 3);
        ck.read_f32(*ck.find("w.b"), 0, 1, 0, 2, out.data());
        CHECK(out[1] == 6);
    }

    SUBCASE("index naming a missing shard") {
        write_file(index, R"({"weight_map":{"w.a":"model-00001-of-00002.safetensors","w.z":"gone.safetensors"}})");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }),
                  index + ": names shard 'gone.safetensors', which does not exist");
    }
    SUBCASE("index naming a tensor its shard lacks") {
        write_file(index, R"({"weight_map":{"w.q":"model-00001-of-00002.safetensors"}})");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }),
                  index + ": lists tensor 'w.q' in model-00001-of-00002.safetensors but no shard holds it");
    }
    SUBCASE("malformed index") {
        write_file(index, R"({"weight_map": [1, 2]})");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), index + ": missing \"weight_map\" object");
        write_file(index, R"({"weight_map": {"w.a": 3}})");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), index + ": weight_map entry for 'w.a' is not a file");
        write_file(index, R"({"weight_map": {"w.a": "../x.safetensors"}})");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), "which is not a plain file name");
        write_file(index, "{\"weight_map\": ");
        CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }), index + ": not valid JSON");
    }
    SUBCASE("the same tensor in two shards") {
        write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                          {{"w.b", DType::F32, {2}, b.data()}, {"w.a", DType::F32, {1}, b.data()}});
        write_file(index, R"({"weight_map":{"w.a":"model-00001-of-00002.safetensors",)"
                          R"("w.b":"model-00002-of-00002.safetensors"}})");
        const std::string msg = error_of([&] { Checkpoint::open(dir.str()); });
        CHECK_HAS(msg, dir.str() + ": tensor 'w.a' appears twice: in " + dir.file("model-00001-of-00002.safetensors"));
        CHECK_HAS(msg, "and in " + dir.file("model-00002-of-00002.safetensors"));
    }
}

TEST_CASE("sharded pytorch_model-*.bin with an index") {
    TempDir dir;
    const std::string real = read_file(kModels + "/opt-tiny-bin/pytorch_model.bin");
    write_file(dir.file("pytorch_model-00001-of-00002.bin"), real);
    std::string f16;
    for (int k = 0; k < 4; k++) put_le(f16, f32_to_f16(0.5f * float(k)), 2);
    write_file(dir.file("pytorch_model-00002-of-00002.bin"),
               torch_zip("pytorch_model-00002-of-00002", state_dict_pickle({{"lm_head.weight", "HalfStorage", "0", 4, 0, {2, 2}, {2, 1}}}),
                         {{"0", f16}}));
    std::string wm = R"({"weight_map":{"lm_head.weight":"pytorch_model-00002-of-00002.bin")";
    for (const auto& [name, shape] : opt_tiny_tensors()) wm += ",\"" + name + "\":\"pytorch_model-00001-of-00002.bin\"";
    write_file(dir.file("pytorch_model.bin.index.json"), wm + "}}");

    const Checkpoint ck = Checkpoint::open(dir.str());
    CHECK(ck.format() == "pytorch_bin");
    CHECK(ck.names().size() == 37);
    std::vector<float> out(4);
    ck.read_f32(*ck.find("lm_head.weight"), 0, 2, 0, 2, out.data());
    CHECK(out == std::vector<float>{0, 0.5f, 1, 1.5f});
}
