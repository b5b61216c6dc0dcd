// The safetensors header parser on hand-made bytes, and write_safetensors round trips through Checkpoint.
#include <cstring>

#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors.h"
#include "checkpoint/safetensors_writer.h"
#include "fixtures.h"

using namespace ls;
using namespace ls::test;

namespace {

std::string parse_error(const std::string& file) {
    return error_of([&] { parse_safetensors_header(bytes(file), file.size(), file.size(), "/x/model.safetensors"); });
}

}  // namespace

TEST_CASE("safetensors header: valid entries get absolute offsets; __metadata__ is ignored") {
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},)"
        R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"e":{"dtype":"I64","shape":[0],"data_offsets":[22,22]}})";
    const std::string file = safetensors_bytes(header, std::string(22, '\0'));
    const auto ts = parse_safetensors_header(bytes(file), file.size(), file.size(), "m.safetensors");
    REQUIRE(ts.size() == 3);
    CHECK(ts[0].name == "a");
    CHECK(ts[0].dtype == DType::F32);
    CHECK(ts[0].shape == std::vector<int64_t>{2, 2});
    CHECK(ts[0].offset == 8 + header.size());
    CHECK(ts[0].nbytes == 16);
    CHECK(ts[1].name == "b");
    CHECK(ts[1].offset == 8 + header.size() + 16);
    CHECK(ts[1].nbytes == 6);
    CHECK(ts[2].dtype == DType::I64);
    CHECK(ts[2].nbytes == 0);
    CHECK(ts[0].file == "m.safetensors");
}

TEST_CASE("safetensors header: corrupt inputs name the file and the problem") {
    const std::string f = "/x/model.safetensors";
    const auto entry = [](const char* dtype, const char* shape, const char* offs) {
        return std::string(R"({"dtype":")") + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offs + "}";
    };

    SUBCASE("header length past the end") {
        std::string file;
        put_le(file, 9999999, 8);
        file += "{}";
        const std::string msg = parse_error(file);
        CHECK_HAS(msg, f + ": header length 9999999 runs past the end of the file (10 bytes)");
    }
    SUBCASE("shorter than the length field") {
        CHECK_HAS(parse_error("abc"), f + ": too short");
    }
    SUBCASE("header length over the cap") {
        std::string file;
        put_le(file, uint64_t(200) << 20, 8);
        const std::string msg = error_of([&] {
            parse_safetensors_header(bytes(file), file.size(), uint64_t(300) << 20, f);
        });
        CHECK_HAS(msg, "exceeds");
    }
    SUBCASE("truncated data section") {
        const std::string msg =
            parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[100]", "[0,400]") + "}", std::string(100, 0)));
        CHECK_HAS(msg, f + ": tensor 'w': data_offsets [0,400] run past the end of the data section (100 bytes");
    }
    SUBCASE("overlapping offsets") {
        const std::string msg = parse_error(safetensors_bytes(
            R"({"p":)" + entry("F32", "[4]", "[0,16]") + R"(,"q":)" + entry("F32", "[4]", "[8,24]") + "}",
            std::string(24, 0)));
        CHECK_HAS(msg, f + ": tensors 'p' and 'q' overlap");
    }
    SUBCASE("begin after end") {
        const std::string msg =
            parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[0]", "[8,4]") + "}", std::string(8, 0)));
        CHECK_HAS(msg, "tensor 'w': data_offsets [8,4]: begin is after end");
    }
    SUBCASE("negative offset") {
        const std::string msg =
            parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[1]", "[-4,0]") + "}", std::string(8, 0)));
        CHECK_HAS(msg, "tensor 'w': data_offsets [-4,0] are not non-negative integers");
    }
    SUBCASE("unknown dtype") {
        const std::string msg =
            parse_error(safetensors_bytes(R"({"w":)" + entry("F8_E4M3", "[4]", "[0,4]") + "}", std::string(4, 0)));
        CHECK_HAS(msg, f + ": tensor 'w': unsupported dtype 'F8_E4M3'");
    }
    SUBCASE("size does not match shape") {
        const std::string msg =
            parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[2,2]", "[0,12]") + "}", std::string(16, 0)));
        CHECK_HAS(msg, "tensor 'w': data_offsets [0,12] span 12 bytes but shape [2,2] of F32 needs 16");
    }
    SUBCASE("negative or non-integer shape") {
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[-1]", "[0,0]") + "}", "")),
                  "tensor 'w': shape [-1] has an entry that is not a non-negative integer");
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[1.5]", "[0,0]") + "}", "")),
                  "tensor 'w': shape [1.5]");
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":)" + entry("F32", "[[[[1]]]]", "[0,0]") + "}", "")),
                  "tensor 'w': shape <array>");
    }
    SUBCASE("shape overflow") {
        const std::string msg = parse_error(safetensors_bytes(
            R"({"w":)" + entry("F32", "[4294967296,4294967296]", "[0,0]") + "}", ""));
        CHECK_HAS(msg, "overflows 64 bits");
    }
    SUBCASE("missing fields") {
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "abcd")),
                  "tensor 'w': missing or non-string \"dtype\"");
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", "abcd")),
                  "tensor 'w': missing or non-array \"shape\"");
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1]}})", "abcd")),
                  "tensor 'w': missing \"data_offsets\"");
        CHECK_HAS(parse_error(safetensors_bytes(R"({"w":7})", "")), "tensor 'w': header entry is not a JSON object");
    }
    SUBCASE("non-JSON header") {
        CHECK_HAS(parse_error(safetensors_bytes("{not json", "")), f + ": header is not valid JSON");
        CHECK_HAS(parse_error(safetensors_bytes("[1,2]", "")), f + ": header is JSON but not an object (array)");
    }
}

TEST_CASE("safetensors header: random corruption raises ls::Error, never crashes") {
    const std::string good = safetensors_bytes(
        R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
        R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})",
        std::string(24, 1));
    uint64_t rng = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        std::string f = good;
        for (int k = 0; k < 1 + iter % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            f[(rng >> 33) % f.size()] = char(rng >> 20);
        }
        if (iter % 7 == 0) f.resize((rng >> 40) % f.size());
        try {
            parse_safetensors_header(bytes(f), f.size(), f.size(), "fuzz");
        } catch (const Error&) {
        }
    }
}

TEST_CASE("write_safetensors: F32/F16/BF16 round trip through Checkpoint") {
    TempDir dir;
    const std::vector<float> w = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f};
    std::vector<uint16_t> h, b;
    for (float x : w) h.push_back(f32_to_f16(x)), b.push_back(f32_to_bf16(x));
    const std::vector<int64_t> ids = {7, -1};
    write_safetensors(dir.file("model.safetensors"),
                      {{"w32", DType::F32, {2, 3}, w.data()},
                       {"w16", DType::F16, {6}, h.data()},
                       {"wbf", DType::BF16, {3, 2}, b.data()},
                       {"ids", DType::I64, {2}, ids.data()},
                       {"empty", DType::F32, {0, 4}, nullptr}},
                      {{"format", "pt"}});
    CHECK(!fs::exists(dir.file("model.safetensors.tmp")));

    const std::string raw = read_file(dir.file("model.safetensors"));
    uint64_t n = 0;
    std::memcpy(&n, raw.data(), 8);
    CHECK(n % 8 == 0);
    const std::string header = raw.substr(8, n);
    CHECK(header.rfind(R"({"__metadata__":{"format":"pt"},"w32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})",
                       0) == 0);
    CHECK(header.find(R"("w16":{"dtype":"F16","shape":[6],"data_offsets":[24,36]})") != std::string::npos);
    CHECK(raw.size() == 8 + n + 24 + 12 + 12 + 16);

    Checkpoint ck = Checkpoint::open(dir.str());
    CHECK(ck.format() == "safetensors");
    CHECK(ck.names() == std::vector<std::string>{"empty", "ids", "w16", "w32", "wbf"});
    std::vector<float> out(6);
    ck.read_f32(*ck.find("w32"), 0, 2, 0, 3, out.data());
    CHECK(out == w);
    ck.read_f32(*ck.find("w16"), 0, 1, 0, 6, out.data());
    for (size_t k = 0; k < w.size(); k++) CHECK(out[k] == f16_to_f32(h[k]));
    CHECK(out[5] == 65504.0f);
    ck.read_f32(*ck.find("wbf"), 0, 3, 0, 2, out.data());
    for (size_t k = 0; k < w.size(); k++) CHECK(out[k] == bf16_to_f32(b[k]));
    CHECK(ck.bytes_read() == 24 + 12 + 12);
    CHECK(ck.find("ids")->shape == std::vector<int64_t>{2});
    CHECK_HAS(error_of([&] { ck.read_f32(*ck.find("ids"), 0, 1, 0, 2, out.data()); }),
              "model.safetensors: tensor 'ids': dtype I64 cannot be read as float32");
    ck.read_f32(*ck.find("empty"), 0, 0, 0, 4, out.data());  // nothing to copy, no error

    // read() in the weights' dtype: a tensor stored in it comes as its bytes (whole rows, or a column range),
    // another is rounded to nearest even from its fp32 value, as read_f32 then f32_to_f16/bf16 would.
    std::vector<uint16_t> o16(6, 0xffff);
    ck.read(*ck.find("w16"), 0, 1, 0, 6, DType::F16, o16.data());
    CHECK(o16 == h);
    ck.read(*ck.find("wbf"), 1, 3, 1, 2, DType::BF16, o16.data());  // column 1 of rows 1 and 2
    CHECK(o16[0] == b[3]);
    CHECK(o16[1] == b[5]);
    ck.read(*ck.find("w32"), 0, 2, 0, 3, DType::F16, o16.data());
    for (size_t k = 0; k < w.size(); k++) CHECK(o16[k] == f32_to_f16(w[k]));
    ck.read(*ck.find("wbf"), 0, 3, 0, 2, DType::F16, o16.data());
    for (size_t k = 0; k < w.size(); k++) CHECK(o16[k] == f32_to_f16(bf16_to_f32(b[k])));
    ck.read(*ck.find("w16"), 0, 1, 2, 5, DType::BF16, o16.data());
    for (size_t k = 0; k < 3; k++) CHECK(o16[k] == f32_to_bf16(f16_to_f32(h[k + 2])));
    std::vector<float> o32(6);
    ck.read(*ck.find("wbf"), 0, 3, 0, 2, DType::F32, o32.data());
    for (size_t k = 0; k < w.size(); k++) CHECK(o32[k] == bf16_to_f32(b[k]));
    CHECK_HAS(error_of([&] { ck.read(*ck.find("w16"), 0, 1, 0, 6, DType::I32, o16.data()); }),
              "tensor 'w16': cannot be read as I32");
}

TEST_CASE("write_safetensors: errors name the path") {
    const float x = 1;
    CHECK_HAS(error_of([&] { write_safetensors("/nonexistent_dir/m.safetensors", {{"x", DType::F32, {1}, &x}}); }),
              "/nonexistent_dir/m.safetensors: cannot create /nonexistent_dir/m.safetensors.tmp");
    TempDir dir;
    CHECK_HAS(error_of([&] {
                  write_safetensors(dir.file("m.safetensors"), {{"x", DType::F32, {1}, &x}, {"x", DType::F32, {1}, &x}});
              }),
              "m.safetensors: tensor 'x' given twice");
    CHECK(!fs::exists(dir.file("m.safetensors.tmp")));
}
