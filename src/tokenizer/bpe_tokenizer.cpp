// Byte-level BPE as transformers' GPT2Tokenizer computes it. The merge loop runs on interned symbols with a
// heap instead of rescanning the word for every merge, so it stays O(n log n) on long inputs (the fuzzer's
// megabyte of letters) while giving exactly the reference's result; see bpe_word().
#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <unordered_map>

#include "core/check.h"
#include "tokenizer/bpe_files.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

namespace ls {

namespace {

// The vocab tokens split out of the text before pre-tokenization by default, when the vocab has them. GPT2Tokenizer does
// this for its special tokens, without stripping the spaces around them ("a </s> b" → a Ġ </s> Ġb).
constexpr std::string_view kSpecialTokens[] = {"<s>", "</s>", "<pad>", "<unk>", "<|endoftext|>"};

constexpr size_t kMaxCachedWords = 1 << 16;     // the word cache is dropped when it grows past this
constexpr size_t kMaxCachedWordBytes = 64;      // longer pieces are rare and not worth keeping

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Merge {
    int32_t rank;    // line order in merges.txt: lower merges first
    int32_t result;  // symbol of the concatenation
};

// (left, right) symbols → Merge, open addressing with linear probing in one flat array: a lookup costs one cache
// miss instead of a std::unordered_map's two, which is most of a cold encode's time.
class MergeTable {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < 2 * n) cap *= 2;
        slots_.assign(cap, Slot{kEmpty, {}});
    }
    void insert_or_assign(int32_t left, int32_t right, Merge m) {
        Slot& s = slots_[probe(key(left, right))];
        s = Slot{key(left, right), m};
    }
    const Merge* find(int32_t left, int32_t right) const {
        const Slot& s = slots_[probe(key(left, right))];
        return s.key == kEmpty ? nullptr : &s.merge;
    }

private:
    struct Slot {
        uint64_t key;
        Merge merge;
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // symbols are non-negative, so no real key is all ones

    static uint64_t key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
    // The slot holding k, or the empty slot where k would go. reserve() keeps the table at most half full.
    size_t probe(uint64_t k) const {
        const size_t mask = slots_.size() - 1;
        size_t i = (k * 0x9E3779B97F4A7C15ull) >> 32 & mask;  // Fibonacci hashing: high bits mix all of k
        while (slots_[i].key != k && slots_[i].key != kEmpty) i = (i + 1) & mask;
        return i;
    }
    std::vector<Slot> slots_;
};

std::string vocab_string_to_bytes(std::string_view token) {
    std::string bytes;
    for (size_t pos = 0; pos < token.size();) {
        const Utf8Char c = decode_utf8(token, pos);
        const int b = c.valid ? codepoint_to_byte(c.cp) : -1;
        // A character outside the byte map (only in hand-made vocabs) stands for its own UTF-8 bytes.
        if (b >= 0) {
            bytes += static_cast<char>(b);
        } else {
            bytes.append(token.substr(pos, c.n_bytes));
        }
        pos += c.n_bytes;
    }
    return bytes;
}

}  // namespace

struct BpeTokenizer::Impl {
    StringMap<int32_t> vocab;                 // token string → id
    std::vector<std::string> id_to_token;     // id → token string; "" where no token has the id
    std::vector<std::string> id_to_bytes;     // id → the bytes it decodes to
    std::vector<std::pair<std::string, int32_t>> specials;
    int32_t unk_id = -1;                      // for a BPE result missing from the vocab (never in real vocabs)

    // BPE runs on symbols: every string that appears in merges.txt or as a single byte, interned.
    std::vector<int32_t> symbol_to_id;                // symbol → vocab id, -1 if the vocab lacks the string
    std::array<int32_t, 256> byte_symbol{};           // byte → symbol of its one-character string
    MergeTable merges;                                // (left, right) symbols → merge

    mutable StringMap<std::vector<int32_t>> cache;  // piece → ids; the reason encode is not thread-safe

    void set_vocab(const std::vector<VocabEntry>& entries, const std::vector<std::string>& special_tokens);
    void set_merges(const std::vector<MergeRule>& rules);
    void bpe_word(std::string_view word, std::vector<int32_t>& out) const;
    void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
    void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
};

void BpeTokenizer::Impl::set_vocab(const std::vector<VocabEntry>& entries,
                                   const std::vector<std::string>& special_tokens) {
    vocab.reserve(entries.size());
    int32_t max_id = -1;
    for (const VocabEntry& e : entries) {
        vocab[e.token] = e.id;  // a repeated token keeps its last id, as Python's json.load does
        max_id = std::max(max_id, e.id);
    }
    id_to_token.assign(max_id + 1, std::string());
    id_to_bytes.assign(max_id + 1, std::string());
    for (const VocabEntry& e : entries) {
        id_to_token[e.id] = e.token;
        id_to_bytes[e.id] = vocab_string_to_bytes(e.token);
    }
    std::vector<std::string_view> wanted(special_tokens.begin(), special_tokens.end());
    if (wanted.empty()) wanted.assign(std::begin(kSpecialTokens), std::end(kSpecialTokens));
    for (std::string_view s : wanted) {
        if (auto it = vocab.find(s); it != vocab.end()) specials.emplace_back(s, it->second);
    }
    for (std::string_view s : {"<unk>", "<|endoftext|>"}) {
        if (auto it = vocab.find(s); it != vocab.end() && unk_id < 0) unk_id = it->second;
    }
}

void BpeTokenizer::Impl::set_merges(const std::vector<MergeRule>& rules) {
    StringMap<int32_t> symbols;
    auto intern = [&](std::string_view s) {
        auto [it, added] = symbols.try_emplace(std::string(s), static_cast<int32_t>(symbol_to_id.size()));
        if (added) {
            auto v = vocab.find(s);
            symbol_to_id.push_back(v == vocab.end() ? -1 : v->second);
        }
        return it->second;
    };
    for (int b = 0; b < 256; ++b) {
        std::string s;
        append_utf8(s, byte_to_codepoint(static_cast<uint8_t>(b)));
        byte_symbol[b] = intern(s);
    }
    merges.reserve(rules.size());
    for (size_t rank = 0; rank < rules.size(); ++rank) {
        const MergeRule& r = rules[rank];
        const int32_t result = intern(r.left + r.right);
        // A repeated pair takes its last rank, as the reference's dict(zip(merges, range(n))) does.
        merges.insert_or_assign(intern(r.left), intern(r.right), Merge{static_cast<int32_t>(rank), result});
    }
}

// GPT2Tokenizer.bpe(): repeatedly take the pair of adjacent symbols with the lowest merge rank and merge every
// occurrence of it, left to right without overlap, before looking at the pairs this creates. Here each pair
// occurrence is a heap entry ordered by (rank, position); all entries of the lowest rank are drained in
// position order (one left-to-right pass), and the pairs the pass creates enter the heap only after it. Entries
// made stale by a merge are recognised on pop: a live node's symbol only ever grows and a merged-away node is
// marked dead, so a pair is still there exactly when both symbols still match.
void BpeTokenizer::Impl::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
    struct Node {
        int32_t symbol;
        int32_t prev, next;  // neighbouring live nodes, -1 at the ends
    };
    struct Entry {
        int32_t rank, pos, left, right;  // pos: the left node; left/right: the symbols seen when pushed
        int32_t result;
        bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    const auto n = static_cast<int32_t>(word.size());
    std::vector<Node> nodes(n);
    for (int32_t i = 0; i < n; ++i) {
        nodes[i] = {byte_symbol[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
    }

    std::vector<Entry> heap, created;
    auto consider = [&](int32_t pos, std::vector<Entry>& into) {
        const int32_t next = nodes[pos].next;
        if (next < 0) return;
        const Merge* m = merges.find(nodes[pos].symbol, nodes[next].symbol);
        if (m) into.push_back({m->rank, pos, nodes[pos].symbol, nodes[next].symbol, m->result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, heap);
    std::make_heap(heap.begin(), heap.end(), std::greater<>());

    while (!heap.empty()) {
        const int32_t rank = heap.front().rank;
        created.clear();
        while (!heap.empty() && heap.front().rank == rank) {
            std::pop_heap(heap.begin(), heap.end(), std::greater<>());
            const Entry e = heap.back();
            heap.pop_back();
            Node& left = nodes[e.pos];
            if (left.symbol != e.left || left.next < 0 || nodes[left.next].symbol != e.right) continue;
            Node& right = nodes[left.next];
            left.symbol = e.result;
            left.next = right.next;
            if (right.next >= 0) nodes[right.next].prev = e.pos;
            right.symbol = -1;  // dead: its stale entries must not match
            if (left.prev >= 0) consider(left.prev, created);
            consider(e.pos, created);
        }
        for (const Entry& e : created) {
            heap.push_back(e);
            std::push_heap(heap.begin(), heap.end(), std::greater<>());
        }
    }

    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = nodes[i].next) {
        const int32_t id = symbol_to_id[nodes[i].symbol];
        if (id >= 0) {
            out.push_back(id);
        } else if (unk_id >= 0) {
            out.push_back(unk_id);
        }
    }
}

void BpeTokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (piece.size() > kMaxCachedWordBytes) {
        bpe_word(piece, out);
        return;
    }
    auto it = cache.find(piece);
    if (it == cache.end()) {
        if (cache.size() >= kMaxCachedWords) cache.clear();
        std::vector<int32_t> ids;
        bpe_word(piece, ids);
        it = cache.emplace(std::string(piece), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
}

void BpeTokenizer::Impl::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
    for (std::string_view piece : pretokenize(text)) encode_piece(piece, out);
}

BpeTokenizer BpeTokenizer::load(const std::string& vocab_json, const std::string& merges_txt,
                                const std::vector<std::string>& special_tokens) {
    auto impl = std::make_unique<Impl>();
    impl->set_vocab(read_vocab_json(vocab_json), special_tokens);
    impl->set_merges(read_merges_txt(merges_txt));
    return BpeTokenizer(std::move(impl));
}

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
    // Offsets and positions inside are 32-bit.
    ENSURE(text.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()),
           "BpeTokenizer::encode: text of ", text.size(), " bytes is too long");
    std::vector<int32_t> ids;
    size_t done = 0;
    // Split at the leftmost special token (the longest, should two start at the same place).
    for (size_t pos = text.find('<'); pos != std::string_view::npos; pos = text.find('<', pos)) {
        const std::pair<std::string, int32_t>* hit = nullptr;
        for (const auto& special : impl_->specials) {
            if (text.substr(pos).starts_with(special.first) && (!hit || special.first.size() > hit->first.size())) {
                hit = &special;
            }
        }
        if (!hit) {
            ++pos;
            continue;
        }
        impl_->encode_ordinary(text.substr(done, pos - done), ids);
        ids.push_back(hit->second);
        pos += hit->first.size();
        done = pos;
    }
    impl_->encode_ordinary(text.substr(done), ids);
    return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string bytes;
    for (int32_t id : ids) {
        // Ids outside the vocab (OPT's embedding is padded to 50272 rows, the vocab has 50265) decode to nothing.
        if (id >= 0 && static_cast<size_t>(id) < impl_->id_to_bytes.size()) bytes += impl_->id_to_bytes[id];
    }
    return to_valid_utf8(bytes);
}

std::string BpeTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_token.size()) return "";
    return impl_->id_to_token[id];
}

int32_t BpeTokenizer::token_to_id(std::string_view token) const {
    auto it = impl_->vocab.find(token);
    return it == impl_->vocab.end() ? -1 : it->second;
}

size_t BpeTokenizer::vocab_size() const { return impl_->vocab.size(); }

}  // namespace ls
