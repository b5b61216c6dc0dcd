// A hand-written matcher for GPT-2's pattern (see pretokenize.h). At each position the alternatives are tried
// in the pattern's order and the first that matches wins, which is what a backtracking regex engine does; only
// \s+(?!\S) needs care, because it gives back its last space when non-space follows.
#include "tokenizer/pretokenize.h"

#include <cstdint>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace ls {

namespace {

struct Unit {
    uint32_t offset;   // byte offset in the text
    char32_t cp;       // U+FFFD for invalid bytes
    CharClass cls;
};

std::vector<Unit> decode_units(std::string_view text) {
    std::vector<Unit> units;
    units.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Utf8Char c = decode_utf8(text, pos);
        // A valid U+FFFD and an invalid byte both classify as Other; only the bytes kept differ.
        units.push_back({static_cast<uint32_t>(pos), c.cp, char_class(c.cp)});
        pos += c.n_bytes;
    }
    return units;
}

// Length in units of the contraction ('s 't 're 've 'm 'll 'd, lower case only) starting at i, or 0.
size_t match_contraction(const std::vector<Unit>& u, size_t i) {
    const size_t n = u.size();
    if (u[i].cp != U'\'' || i + 1 >= n) return 0;
    const char32_t a = u[i + 1].cp;
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
    if (i + 2 >= n) return 0;
    const char32_t b = u[i + 2].cp;
    if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return 3;
    return 0;
}

// ` ?X+` for the class X (Letter, Number, or Other standing for [^\s\p{L}\p{N}]); length in units, or 0.
size_t match_optional_space_run(const std::vector<Unit>& u, size_t i, CharClass cls) {
    const size_t n = u.size();
    size_t j = i;
    if (u[j].cp == U' ') ++j;  // only U+0020, not any \s
    if (j >= n || u[j].cls != cls) return 0;
    while (j < n && u[j].cls == cls) ++j;
    return j - i;
}

// `\s+(?!\S)|\s+`: a run of spaces, less its last one when something other than a space follows, so that the
// last space can start the next word (" world"). Length in units, or 0.
size_t match_spaces(const std::vector<Unit>& u, size_t i) {
    const size_t n = u.size();
    size_t j = i;
    while (j < n && u[j].cls == CharClass::Space) ++j;
    const size_t run = j - i;
    if (run >= 2 && j < n) return run - 1;
    return run;
}

size_t match_at(const std::vector<Unit>& u, size_t i) {
    if (size_t m = match_contraction(u, i)) return m;
    if (size_t m = match_optional_space_run(u, i, CharClass::Letter)) return m;
    if (size_t m = match_optional_space_run(u, i, CharClass::Number)) return m;
    if (size_t m = match_optional_space_run(u, i, CharClass::Other)) return m;
    return match_spaces(u, i);  // u[i] must be a space here: every other class matched above
}

}  // namespace

std::vector<std::string_view> pretokenize(std::string_view text) {
    const std::vector<Unit> units = decode_units(text);
    std::vector<std::string_view> pieces;
    for (size_t i = 0; i < units.size();) {
        const size_t m = match_at(units, i);
        const size_t begin = units[i].offset;
        const size_t end = i + m < units.size() ? units[i + m].offset : text.size();
        pieces.push_back(text.substr(begin, end - begin));
        i += m;
    }
    return pieces;
}

}  // namespace ls
