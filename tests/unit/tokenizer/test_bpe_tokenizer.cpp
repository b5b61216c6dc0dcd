// BpeTokenizer against transformers' GPT2Tokenizer: the golden ids in ../shared (GPT-2's and OPT's files),
// edge cases whose expected ids come from GPT2Tokenizer (4.33, with <s>, <unk>, <|endoftext|> added to OPT's
// special tokens), and the file errors.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/utf8.h"

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

namespace {

const std::string kShared = LOCKSTEP_SHARED_DIR;

const ls::BpeTokenizer& opt() {
    static const ls::BpeTokenizer tok =
        ls::BpeTokenizer::load(kShared + "/tokenizers/opt/vocab.json", kShared + "/tokenizers/opt/merges.txt");
    return tok;
}

const ls::BpeTokenizer& gpt2() {
    static const ls::BpeTokenizer tok = ls::BpeTokenizer::load(kShared + "/tokenizers/gpt2/encoder.json",
                                                               kShared + "/tokenizers/gpt2/vocab.bpe");
    return tok;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

long long unique_number() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

// A scratch folder for hand-made tokenizer files, removed at the end of the test.
struct TempDir {
    fs::path path = fs::temp_directory_path() / ("ls_tokenizer_test_" + std::to_string(unique_number()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return (path / name).string();
    }
};

std::string load_error(const std::string& vocab, const std::string& merges) {
    try {
        ls::BpeTokenizer::load(vocab, merges);
    } catch (const ls::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("golden ids: expected_ids.json for GPT-2's and OPT's files") {
    const auto doc = read_json(kShared + "/tokenizers/expected_ids.json");
    REQUIRE(doc["cases"].size() > 0);
    for (const auto& c : doc["cases"]) {
        const auto text = c["text"].get<std::string>();
        CAPTURE(text);
        const auto opt_ids = c["opt_ids"].get<Ids>();
        CHECK(gpt2().encode(text) == c["gpt2_ids"].get<Ids>());
        CHECK(opt().encode(text) == opt_ids);
        Ids with_bos{2};
        with_bos.insert(with_bos.end(), opt_ids.begin(), opt_ids.end());
        CHECK(with_bos == c["opt_ids_with_bos"].get<Ids>());
        CHECK(opt().decode(opt_ids) == text);
        CHECK(gpt2().decode(c["gpt2_ids"].get<Ids>()) == text);
    }
}

TEST_CASE("golden ids: the opt-tiny prompts and generated texts") {
    const auto doc = read_json(kShared + "/expected/opt-tiny.json");
    int n_checked = 0;
    for (const auto& r : doc["results"]) {
        const auto prompt = r["prompt"].get<std::string>();
        CAPTURE(prompt);
        if (r.contains("prompt_ids") && !r.contains("skipped")) {
            Ids ids{2};
            const Ids body = opt().encode(prompt);
            ids.insert(ids.end(), body.begin(), body.end());
            CHECK(ids == r["prompt_ids"].get<Ids>());
        }
        if (r.contains("generated_ids") && r.contains("generated_text")) {
            CHECK(opt().decode(r["generated_ids"].get<Ids>()) == r["generated_text"].get<std::string>());
            ++n_checked;
        }
    }
    CHECK(n_checked > 0);
}

TEST_CASE("edge cases: empty, spaces, newlines") {
    CHECK(opt().encode("").empty());
    CHECK(opt().decode({}).empty());
    CHECK(opt().encode(" ") == Ids{1437});
    CHECK(opt().encode("   ") == Ids{1437, 1437, 1437});
    CHECK(gpt2().encode("   ") == Ids{220, 220, 220});
    CHECK(opt().encode("\n") == Ids{50118});
    CHECK(opt().encode("\n\n") == Ids{50140});
    CHECK(opt().encode("a\nb") == Ids{102, 50118, 428});
    CHECK(opt().encode("line one\n\nline two\n") == Ids{1902, 65, 50118, 50118, 1902, 80, 50118});
    CHECK(gpt2().encode("line one\n\nline two\n") == Ids{1370, 530, 198, 198, 1370, 734, 198});
    CHECK(opt().encode("  \t x") == Ids{1437, 1437, 50117, 3023});
    CHECK(opt().encode("\u00a0\u3000a") == Ids{50141, 48516, 7471, 102});
}

TEST_CASE("edge cases: special tokens in the text map straight to their ids") {
    CHECK(opt().encode("a </s> b") == Ids{102, 1437, 2, 741});  // the spaces around it are kept
    CHECK(opt().encode("a</s>b") == Ids{102, 2, 428});
    CHECK(opt().encode("</s></s>") == Ids{2, 2});
    CHECK(opt().encode("x<s>y<pad> <unk>") == Ids{1178, 0, 219, 1, 1437, 3});
    CHECK(opt().encode("<|endoftext|> hi") == Ids{50260, 20280});
    CHECK(opt().encode("</s") == Ids{49138, 29});  // incomplete: ordinary text
    CHECK(gpt2().encode("<|endoftext|> hi") == Ids{50256, 23105});
    CHECK(gpt2().encode("a </s> b") == Ids{64, 7359, 82, 29, 275});  // not in GPT-2's vocab
    CHECK(opt().decode({2, 31414, 2, 232}) == "</s>Hello</s> world");
    CHECK(gpt2().decode({50256, 15496}) == "<|endoftext|>Hello");
}

TEST_CASE("special tokens from special_tokens_map.json: OPT splits only </s> and <pad>, as transformers") {
    const std::string dir = LOCKSTEP_SHARED_DIR "/models/opt-tiny";
    const auto specials = ls::read_special_tokens(dir);
    CHECK(specials.size() >= 2);
    auto tok = ls::BpeTokenizer::load(dir + "/vocab.json", dir + "/merges.txt", specials);
    // Ids from transformers 4.33 GPT2Tokenizer.from_pretrained(opt-tiny).encode(..., add_special_tokens=False).
    CHECK(tok.encode("x<s>y<pad> <unk>") == Ids{1178, 41552, 29, 15698, 219, 1, 28696, 6435, 15698});
    CHECK(tok.encode("<|endoftext|> hi") == Ids{41552, 15483, 1397, 1116, 29015, 15483, 15698, 20280});
    CHECK(tok.encode("a </s> b") == Ids{102, 1437, 2, 741});
    CHECK(tok.encode("a<pad>b") == Ids{102, 1, 428});
    CHECK(ls::read_special_tokens("/nonexistent").empty());
}

TEST_CASE("edge cases: contractions, accents, CJK, emoji") {
    CHECK(opt().encode("I'll") == Ids{100, 581});
    CHECK(opt().encode("don't") == Ids{7254, 75});
    CHECK(opt().encode("I'll go, don't you?") == Ids{100, 581, 213, 6, 218, 75, 47, 116});
    CHECK(gpt2().encode("I'll go, don't you?") == Ids{40, 1183, 467, 11, 836, 470, 345, 30});
    CHECK(opt().encode("Straße 123") == Ids{41695, 7804, 242, 17072});
    CHECK(opt().encode("東京で寿司") == Ids{48414, 15389, 46499, 11582, 48190, 48420, 9470, 45262, 18537});
    CHECK(gpt2().encode("中文 测试") == Ids{40792, 23877, 229, 10545, 113, 233, 46237, 243});
    CHECK(opt().encode("🍣") == Ids{6569, 8384, 2469});
    CHECK(gpt2().encode("emoji 😀👍🏽🇯🇵!") ==
          Ids{368, 31370, 30325, 222, 41840, 235, 8582, 237, 121, 8582, 229, 107, 8582, 229, 113, 0});
    for (const char* text : {"emoji 😀👍🏽🇯🇵!", "東京で寿司を食べました 🍣", "I'll go, don't you?"}) {
        CHECK(opt().decode(opt().encode(text)) == text);
        CHECK(gpt2().decode(gpt2().encode(text)) == text);
    }
}

TEST_CASE("edge cases: invalid UTF-8 in, partial UTF-8 out") {
    const std::string kFFFD = "\xEF\xBF\xBD";
    // 🍣 is F0 9F 8D A3; without its last token the bytes stop mid-character.
    CHECK(opt().decode({6569, 8384}) == kFFFD);
    CHECK(gpt2().decode({8582, 235}) == kFFFD);
    CHECK(opt().decode({2, 6569, 8384}) == "</s>" + kFFFD);
    CHECK(opt().decode({2469, 31414}) == kFFFD + "Hello");  // a lone continuation byte

    // Bytes that are not UTF-8 are encoded byte by byte and come back as Python would decode them.
    for (const std::string& text : {std::string("ab\xff\xfe cd"), std::string("\xe2\x82"), std::string("\xc3"),
                                   std::string("x\xed\xa0\x80y"), std::string("\0 \x80 </s\xc0>", 9)}) {
        CAPTURE(text);
        const Ids ids = opt().encode(text);
        CHECK(opt().decode(ids) == ls::to_valid_utf8(text));
    }
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
    CHECK(gpt2().decode(gpt2().encode(all_bytes)) == ls::to_valid_utf8(all_bytes));
}

TEST_CASE("vocab lookups") {
    CHECK(opt().vocab_size() == 50265);
    CHECK(gpt2().vocab_size() == 50257);
    CHECK(opt().id_to_token(232) == "Ġworld");
    CHECK(opt().id_to_token(2) == "</s>");
    CHECK(opt().id_to_token(-1).empty());
    CHECK(opt().id_to_token(50270).empty());  // OPT's embedding has 50272 rows, its vocab 50265 ids
    CHECK(opt().decode({31414, 50270, 232}) == "Hello world");
    CHECK(opt().token_to_id("Ġworld") == 232);
    CHECK(opt().token_to_id("</s>") == 2);
    CHECK(gpt2().token_to_id("<|endoftext|>") == 50256);
    CHECK(opt().token_to_id("no such token") == -1);
}

TEST_CASE("merges: lowest rank first, every occurrence left to right") {
    TempDir dir;
    const std::string vocab =
        dir.write("vocab.json", R"({"a": 0, "b": 1, "c": 2, "aa": 3, "ab": 4, "bc": 5, "aaa": 6})");
    // No #version header, CRLF line ends: both are accepted.
    const std::string merges = dir.write("merges.txt", "a a\r\na b\r\nb c\r\naa a\r\n");
    auto tok = ls::BpeTokenizer::load(vocab, merges);
    CHECK(tok.encode("aaa") == Ids{6});         // "a a" left to right gives aa a, then "aa a" gives aaa
    CHECK(tok.encode("aaaa") == Ids{3, 3});     // one pass gives aa aa, which no merge joins
    CHECK(tok.encode("abc") == Ids{4, 2});      // "a b" wins over "b c"; bc is not formed from a merged b
    CHECK(tok.encode("bc") == Ids{5});
    CHECK(tok.decode({6, 5}) == "aaabc");
}

TEST_CASE("load errors name the file, and the line of a bad merge") {
    TempDir dir;
    const std::string good_vocab = dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
    const std::string good_merges = dir.write("merges.txt", "#version: 0.2\na b\n");
    CHECK_NOTHROW(ls::BpeTokenizer::load(good_vocab, good_merges));

    const std::string missing = (dir.path / "missing.json").string();
    CHECK(load_error(missing, good_merges).find(missing + ": cannot open") != std::string::npos);
    CHECK(load_error(good_vocab, missing).find(missing + ": cannot open") != std::string::npos);

    for (const char* bad : {R"({"a": 0,)", R"(["a", "b"])", R"({"a": "zero"})", R"({"a": 1.5})", R"({"a": -1})",
                            R"({"a": {"b": 1}})", R"({"a": 99999999999})", ""}) {
        CAPTURE(bad);
        const std::string path = dir.write("bad.json", bad);
        CHECK(load_error(path, good_merges).find(path + ": ") == 0);
    }

    const std::string bad_merges = dir.write("bad_merges.txt", "#version: 0.2\na b\nab\n");
    CHECK(load_error(good_vocab, bad_merges).find(bad_merges + ":3: malformed merge line \"ab\"") == 0);
    const std::string three = dir.write("three.txt", "a b c\n");
    CHECK(load_error(good_vocab, three).find(three + ":1: malformed merge line") == 0);
}

TEST_CASE("speed: 50k vocab loads and a long prompt encodes quickly") {
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    auto tok = ls::BpeTokenizer::load(kShared + "/tokenizers/opt/vocab.json", kShared + "/tokenizers/opt/merges.txt");
    const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    const auto doc = read_json(kShared + "/expected/opt-tiny.json");
    std::string longest;
    for (const auto& r : doc["results"]) {
        const auto p = r["prompt"].get<std::string>();
        if (p.size() > longest.size()) longest = p;
    }
    t0 = Clock::now();
    const Ids ids = tok.encode(longest);  // first encode: nothing cached yet
    const double encode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    MESSAGE("load ", load_ms, " ms; encode of ", ids.size(), " tokens ", encode_ms, " ms");
    CHECK(ids.size() >= 199);
    // Generous bounds, so that Debug builds and busy machines pass; Release is ~50 ms and ~0.1 ms.
    CHECK(load_ms < 2000);
    CHECK(encode_ms < 20);
}
