// GPT-2's pre-tokenization against what Python's `regex` module gives for the same pattern (the lists below
// were produced with regex.findall), plus the Unicode classes it rests on.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode_tables.h"

using ls::CharClass;

namespace {

std::vector<std::string> pieces(std::string_view text) {
    std::vector<std::string> out;
    for (std::string_view p : ls::pretokenize(text)) out.emplace_back(p);
    return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("pretokenize: words carry their leading space") {
    CHECK(pieces("Hello world") == V{"Hello", " world"});
    CHECK(pieces("naïve café") == V{"naïve", " café"});
    CHECK(pieces("東京で 寿司") == V{"東京で", " 寿司"});
    CHECK(pieces("abc123def") == V{"abc", "123", "def"});
    CHECK(pieces("3.14159 1,000") == V{"3", ".", "14159", " 1", ",", "000"});
    CHECK(pieces(" !!! ?") == V{" !!!", " ?"});
    CHECK(pieces("Ⅷ ²½") == V{"Ⅷ", " ²½"});                  // Nl and No are \p{N}
    CHECK(pieces("e\u0301") == V{"e", "\u0301"});            // a combining mark is not \p{L}
    CHECK(pieces("emoji 😀👍🏽!") == V{"emoji", " 😀👍🏽!"});
}

TEST_CASE("pretokenize: contractions are lower-case only") {
    CHECK(pieces("I'll don't they're we've I'm she'd it's") ==
          V{"I", "'ll", " don", "'t", " they", "'re", " we", "'ve", " I", "'m", " she", "'d", " it", "'s"});
    CHECK(pieces("'S 'LL '''s") == V{"'", "S", " '", "LL", " '''", "s"});
}

TEST_CASE("pretokenize: a run of spaces leaves its last one to the next word") {
    CHECK(pieces("a  b") == V{"a", " ", " b"});
    CHECK(pieces("a   ") == V{"a", "   "});
    CHECK(pieces("   a") == V{"  ", " a"});
    CHECK(pieces(" \n ") == V{" \n "});
    CHECK(pieces("x\t\t y") == V{"x", "\t\t", " y"});
    CHECK(pieces("a \u00a0b") == V{"a", " ", "\u00a0", "b"});  // only U+0020 may lead a word
    CHECK(pieces("x\u3000\u3000y") == V{"x", "\u3000", "\u3000", "y"});
    CHECK(pieces("\x1c\x1f ab") == V{"\x1c\x1f", " ab"});       // Python's isspace() would differ; \s does not
    CHECK(pieces("").empty());
}

TEST_CASE("pretokenize: invalid UTF-8 bytes are kept and count as punctuation") {
    const std::string text = "ab\xff\xfe cd\xe2\x82 \xc3";
    CHECK(pieces(text) == V{"ab", "\xff\xfe", " cd", "\xe2\x82", " \xc3"});
    std::string joined;
    for (const auto& p : pieces(text)) joined += p;
    CHECK(joined == text);
}

TEST_CASE("char_class follows \\p{L}, \\p{N} and White_Space") {
    CHECK(ls::char_class(U'a') == CharClass::Letter);
    CHECK(ls::char_class(U'Z') == CharClass::Letter);
    CHECK(ls::char_class(U'東') == CharClass::Letter);
    CHECK(ls::char_class(U'ß') == CharClass::Letter);
    CHECK(ls::char_class(U'7') == CharClass::Number);
    CHECK(ls::char_class(U'٣') == CharClass::Number);
    CHECK(ls::char_class(U'½') == CharClass::Number);
    CHECK(ls::char_class(U' ') == CharClass::Space);
    CHECK(ls::char_class(U'\n') == CharClass::Space);
    CHECK(ls::char_class(0x85) == CharClass::Space);
    CHECK(ls::char_class(0x3000) == CharClass::Space);
    CHECK(ls::char_class(0x1C) == CharClass::Other);
    CHECK(ls::char_class(0x200B) == CharClass::Other);  // zero-width space is Cf, not White_Space
    CHECK(ls::char_class(U'!') == CharClass::Other);
    CHECK(ls::char_class(0x1F363) == CharClass::Other);  // 🍣
    CHECK(ls::char_class(0x10FFFF) == CharClass::Other);
    CHECK(ls::char_class(0x110000) == CharClass::Other);
}
