// UTF-8 repair as Python's bytes.decode("utf-8", errors="replace") does it (expected values from Python 3.11),
// and GPT-2's byte ↔ code point map.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/utf8.h"

namespace {
const std::string kFFFD = "\xEF\xBF\xBD";

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}
}  // namespace

TEST_CASE("to_valid_utf8 keeps valid text") {
    const std::string text = "plain ASCII, café, 東京, 🍣";
    CHECK(ls::to_valid_utf8(text) == text);
    CHECK(ls::to_valid_utf8("") == "");
    CHECK(ls::to_valid_utf8(std::string("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("to_valid_utf8 replaces each maximal invalid subpart, as Python does") {
    CHECK(ls::to_valid_utf8("\x80") == kFFFD);
    CHECK(ls::to_valid_utf8("\xC3") == kFFFD);
    CHECK(ls::to_valid_utf8("\xE2\x82") == kFFFD);                 // truncated: one replacement
    CHECK(ls::to_valid_utf8("\xE2\x82" "A") == kFFFD + "A");
    CHECK(ls::to_valid_utf8("\xED\xA0\x80") == repeat(kFFFD, 3));  // a surrogate
    CHECK(ls::to_valid_utf8("\xF0\x80\x80") == repeat(kFFFD, 3));  // overlong
    CHECK(ls::to_valid_utf8("\xE0\x80\x80") == repeat(kFFFD, 3));  // overlong
    CHECK(ls::to_valid_utf8("\xF4\x90\x80\x80") == repeat(kFFFD, 4));  // above U+10FFFF
    CHECK(ls::to_valid_utf8("\xC0\xAF") == repeat(kFFFD, 2));
    CHECK(ls::to_valid_utf8("\xF8\x88\x80\x80\x80") == repeat(kFFFD, 5));
    CHECK(ls::to_valid_utf8("\xF0\x9F\x8D\xA3\xF0\x9F") == "🍣" + kFFFD);
    CHECK(ls::to_valid_utf8("a\xFF" "b\xFE") == "a" + kFFFD + "b" + kFFFD);
}

TEST_CASE("decode_utf8 reports code points and subpart lengths") {
    auto c = ls::decode_utf8("🍣", 0);
    CHECK(c.valid);
    CHECK(c.cp == 0x1F363);
    CHECK(c.n_bytes == 4);
    c = ls::decode_utf8("\xF0\x9F\x8D" "x", 0);
    CHECK_FALSE(c.valid);
    CHECK(c.n_bytes == 3);
    std::string out;
    for (char32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u}) ls::append_utf8(out, cp);
    CHECK(out == "$¢€𐍈");
}

TEST_CASE("byte_unicode: a bijection onto printable code points") {
    CHECK(ls::byte_to_codepoint(' ') == 0x120);   // "Ġ"
    CHECK(ls::byte_to_codepoint('\n') == 0x10A);  // "Ċ"
    CHECK(ls::byte_to_codepoint('A') == U'A');
    CHECK(ls::byte_to_codepoint(0xAD) == 0x143);  // the soft hyphen is the last byte moved
    std::set<char32_t> images;
    for (int b = 0; b < 256; ++b) {
        const char32_t cp = ls::byte_to_codepoint(static_cast<uint8_t>(b));
        images.insert(cp);
        CHECK(ls::codepoint_to_byte(cp) == b);
    }
    CHECK(images.size() == 256);
    CHECK(ls::codepoint_to_byte(0x144) == -1);
    CHECK(ls::codepoint_to_byte(0x20) == -1);  // a raw space is not any byte's image
}
