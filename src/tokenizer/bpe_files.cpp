// vocab.json is read with nlohmann's SAX interface rather than into a json value: the 50k-entry object then
// loads about twice as fast, which matters for Debug builds and the unit tests.
#include "tokenizer/bpe_files.h"

#include <fstream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace ls {

namespace {

constexpr int64_t kMaxVocabId = 1 << 24;  // far above any real vocab; bounds the id → token table

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) raise(path, ": cannot open");
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

// Accepts exactly one flat object of string → integer; anything else throws, naming the file.
struct VocabSax : nlohmann::json_sax<nlohmann::json> {
    const std::string& path;
    std::vector<VocabEntry>& out;
    int depth = 0;
    std::string key_;

    VocabSax(const std::string& p, std::vector<VocabEntry>& o) : path(p), out(o) {}

    [[noreturn]] void not_a_vocab() { raise(path, ": expected a flat JSON object of token → id"); }
    [[noreturn]] void reject_value() {
        if (depth == 1) raise(path, ": id of token \"", key_, "\" is not an integer");
        not_a_vocab();
    }

    bool add(int64_t id) {
        if (depth != 1) not_a_vocab();
        if (id < 0 || id >= kMaxVocabId) raise(path, ": id ", id, " of token \"", key_, "\" is out of range");
        out.push_back({std::move(key_), static_cast<int32_t>(id)});
        return true;
    }
    bool number_integer(number_integer_t v) override { return add(v); }
    bool number_unsigned(number_unsigned_t v) override {
        return add(v > static_cast<uint64_t>(kMaxVocabId) ? kMaxVocabId : static_cast<int64_t>(v));
    }
    bool null() override { reject_value(); }
    bool boolean(bool) override { reject_value(); }
    bool number_float(number_float_t, const string_t&) override { reject_value(); }
    bool string(string_t&) override { reject_value(); }
    bool binary(binary_t&) override { reject_value(); }
    bool start_array(std::size_t) override { reject_value(); }
    bool end_array() override { return true; }
    bool start_object(std::size_t) override {
        if (depth != 0) reject_value();
        ++depth;
        return true;
    }
    bool end_object() override {
        --depth;
        return true;
    }
    bool key(string_t& k) override {
        key_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
        raise(path, ": malformed JSON: ", e.what());
    }
};

}  // namespace

std::vector<VocabEntry> read_vocab_json(const std::string& path) {
    const std::string text = read_file(path);
    std::vector<VocabEntry> vocab;
    vocab.reserve(64 * 1024);
    VocabSax sax(path, vocab);
    nlohmann::json::sax_parse(text, &sax);
    return vocab;
}

std::vector<MergeRule> read_merges_txt(const std::string& path) {
    const std::string text = read_file(path);
    std::vector<MergeRule> merges;
    merges.reserve(64 * 1024);
    size_t line_no = 0;
    for (size_t begin = 0; begin < text.size();) {
        size_t end = text.find('\n', begin);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + begin, end - begin);
        begin = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;

        // Tokens never hold a space (byte 0x20 is spelled "Ġ"), so a line has exactly one.
        const size_t space = line.find(' ');
        const bool ok = space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
                        line.find(' ', space + 1) == std::string_view::npos;
        if (!ok) raise(path, ":", line_no, ": malformed merge line \"", line, "\" (expected \"left right\")");
        merges.push_back({std::string(line.substr(0, space)), std::string(line.substr(space + 1))});
    }
    return merges;
}


std::vector<std::string> read_special_tokens(const std::string& dir) {
    const std::string path = dir + "/special_tokens_map.json";
    std::ifstream probe(path);
    if (!probe) return {};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        raise(path, ": malformed JSON: ", e.what());
    }
    ENSURE(j.is_object(), path, ": expected a JSON object");
    std::vector<std::string> out;
    auto add = [&](const nlohmann::json& v) {
        if (v.is_string()) out.push_back(v.get<std::string>());
        else if (v.is_object() && v.contains("content") && v["content"].is_string()) out.push_back(v["content"]);
        else  // dump() only scalars: it recurses, and deeply nested arrays would overflow the stack
            raise(path, ": a special token must be a string or {\"content\": ...}, got ",
                  v.is_primitive() ? v.dump() : std::string("<") + v.type_name() + ">");
    };
    for (const auto& [key, v] : j.items()) {
        if (v.is_array())
            for (const auto& e : v) add(e);
        else
            add(v);
    }
    return out;
}

}  // namespace ls
