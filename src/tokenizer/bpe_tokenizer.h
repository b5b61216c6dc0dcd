// GPT-2 byte-level BPE (OpenAI's encoder.json/vocab.bpe or Hugging Face's vocab.json/merges.txt), as
// transformers' GPT2Tokenizer computes it: special tokens split out first, GPT-2's pre-tokenization pattern,
// bytes mapped to printable unicode, merges applied by rank. OPT uses it with </s> (id 2) prepended.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ls {

class BpeTokenizer {
public:
    // Throws ls::Error naming the file at fault (missing, malformed JSON, malformed merge line).
    // special_tokens: the strings split out of the text before BPE (those of the vocab are used); empty →
    // <s>, </s>, <pad>, <unk>, <|endoftext|>. Pass read_special_tokens(dir) to match transformers exactly.
    static BpeTokenizer load(const std::string& vocab_json, const std::string& merges_txt,
                             const std::vector<std::string>& special_tokens = {});

    BpeTokenizer(BpeTokenizer&&) noexcept;
    BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
    ~BpeTokenizer();

    std::vector<int32_t> encode(std::string_view text) const;         // no BOS added
    std::string decode(const std::vector<int32_t>& ids) const;         // invalid UTF-8 → U+FFFD, as errors="replace"
    std::string id_to_token(int32_t id) const;                         // the vocab string ("Ġworld"); "" if unknown
    int32_t token_to_id(std::string_view token) const;                 // -1 if absent
    size_t vocab_size() const;

private:
    struct Impl;
    explicit BpeTokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The special tokens of a Hugging Face tokenizer directory: the values of special_tokens_map.json (strings or
// {"content": ...}, additional_special_tokens included). Empty when the file is absent; throws when malformed.
std::vector<std::string> read_special_tokens(const std::string& dir);

}  // namespace ls
