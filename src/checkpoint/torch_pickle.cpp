#include "checkpoint/torch_pickle.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "checkpoint/le_bytes.h"
#include "checkpoint/pickle_opcodes.h"
#include "core/check.h"

namespace ls {

namespace {

namespace op = pickle_op;

// Every value the VM can build. Objects live in the VM's arena and refer to each other by pointer, so memo
// sharing and self-referencing containers (legal in pickle) cost neither deep copies nor leaked cycles.
struct Obj {
    enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind;
    int64_t i = 0;                       // Bool, Int
    double f = 0;                        // Float
    std::string s;                       // Str; Global "module name"; Storage, Tensor: storage key
    std::vector<Obj*> items;             // Tuple, List; Dict as key0, value0, key1, value1, ...
    DType dtype = DType::F32;            // Storage, Tensor
    uint64_t numel = 0;                  // Storage, Tensor: elements in the whole storage
    uint64_t offset = 0;                 // Tensor: storage offset, in elements
    std::vector<int64_t> shape, stride;  // Tensor
    explicit Obj(Kind k) : kind(k) {}
};
using Kind = Obj::Kind;

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::Str: return "str";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

constexpr const char* kOrderedDict = "collections OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils _rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils _rebuild_parameter";

// The storage classes a persistent id may name, and the element type each one holds.
bool storage_dtype(const std::string& global, DType* out) {
    static const std::pair<const char*, DType> kStorages[] = {
        {"torch FloatStorage", DType::F32}, {"torch HalfStorage", DType::F16}, {"torch BFloat16Storage", DType::BF16},
        {"torch IntStorage", DType::I32},   {"torch LongStorage", DType::I64}};
    for (const auto& [name, dtype] : kStorages) {
        if (global == name) {
            *out = dtype;
            return true;
        }
    }
    return false;
}

std::string dims_str(const std::vector<int64_t>& v) {
    std::string out = "[";
    for (size_t k = 0; k < v.size(); k++) out += (k ? ", " : "") + std::to_string(v[k]);
    return out + "]";
}

class Vm {
public:
    Vm(const uint8_t* data, size_t len, const std::string& file) : data_(data), len_(len), file_(file) {}

    Obj* run() {
        while (pos_ < len_) {
            op_pos_ = pos_;
            op_ = data_[pos_++];
            if (op_ == op::STOP) return pop();
            step();
        }
        raise(file_, ": ", context(), "pickle ended at byte ", len_, " without STOP (truncated?)");
    }

private:
    void step() {
        switch (op_) {
            case op::PROTO: {
                const uint8_t v = u8();
                if (v > 5) fail(cat("protocol ", int(v), " is newer than pickle's 5"));
                break;
            }
            case op::FRAME: take(8); break;  // framing is only a read-ahead hint
            case op::EMPTY_DICT: push(make(Kind::Dict)); break;
            case op::EMPTY_LIST: push(make(Kind::List)); break;
            case op::EMPTY_TUPLE: push(make(Kind::Tuple)); break;
            case op::MARK: marks_.push_back(stack_.size()); break;
            case op::TUPLE: push(tuple(pop_mark())); break;
            case op::TUPLE1:
            case op::TUPLE2:
            case op::TUPLE3: {
                std::vector<Obj*> v(size_t(op_ - op::TUPLE1) + 1);
                for (size_t k = v.size(); k-- > 0;) v[k] = pop();
                push(tuple(std::move(v)));
                break;
            }
            case op::BINPUT: put(u8()); break;
            case op::LONG_BINPUT: put(le(4)); break;
            case op::MEMOIZE: put(memo_.size()); break;
            case op::BINGET: push(get(u8())); break;
            case op::LONG_BINGET: push(get(le(4))); break;
            case op::SHORT_BINUNICODE: push(str(u8())); break;
            case op::BINUNICODE: push(str(le(4))); break;
            case op::BINUNICODE8: push(str(le(8))); break;
            case op::BININT1: push(integer(int64_t(u8()))); break;
            case op::BININT2: push(integer(int64_t(le(2)))); break;
            case op::BININT: push(integer(int64_t(int32_t(uint32_t(le(4)))))); break;
            case op::LONG1: push(integer(long1())); break;
            case op::BINFLOAT: push(real()); break;
            case op::NONE: push(make(Kind::None)); break;
            case op::NEWTRUE:
            case op::NEWFALSE: {
                Obj* b = make(Kind::Bool);
                b->i = op_ == op::NEWTRUE;
                push(b);
                break;
            }
            case op::GLOBAL: push(global()); break;
            case op::BINPERSID: push(persistent_load(pop())); break;
            case op::REDUCE: {
                Obj* args = pop();
                Obj* fn = pop();
                push(reduce(fn, args));
                break;
            }
            case op::BUILD: {
                Obj* state = pop();
                // torch attaches `_metadata` (per-module versions) to a state dict's OrderedDict; not needed.
                if (top()->kind != Kind::Dict)
                    fail(cat("BUILD (setting state) on a ", kind_name(top()->kind), " is not supported (state is a ",
                             kind_name(state->kind), ")"));
                break;
            }
            case op::SETITEM: {
                Obj* v = pop();
                Obj* k = pop();
                extend(top(), Kind::Dict, {k, v});
                break;
            }
            case op::SETITEMS: {
                std::vector<Obj*> kv = pop_mark();
                if (kv.size() % 2) fail("odd number of items (a key without a value)");
                extend(top(), Kind::Dict, kv);
                break;
            }
            case op::APPEND: {
                Obj* v = pop();
                extend(top(), Kind::List, {v});
                break;
            }
            case op::APPENDS: {
                std::vector<Obj*> v = pop_mark();
                extend(top(), Kind::List, v);
                break;
            }
            default: fail("not supported (a torch.save state dict never uses it)");
        }
    }

    // The state-dict key whose value is being built: a batch of SETITEMS sits on the stack as
    //   dict MARK key0 value0 key1 value1 ... keyN <value N under construction>
    // with the state dict at the bottom, so the key is the last string at an even distance above the first
    // MARK. Only used for messages.
    std::string context() const {
        if (marks_.empty() || marks_[0] != 1 || stack_[0]->kind != Kind::Dict) return "";
        const size_t end = marks_.size() > 1 ? marks_[1] : stack_.size();
        const Obj* key = nullptr;
        for (size_t k = marks_[0]; k < end; k += 2)
            if (stack_[k]->kind == Kind::Str) key = stack_[k];
        return key ? cat("tensor '", key->s, "': ") : "";
    }

    [[noreturn]] void fail(const std::string& msg) const {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", unsigned(op_));
        raise(file_, ": ", context(), "pickle opcode ", hex, " (", op::name(op_), ") at byte ", op_pos_, ": ", msg);
    }

    const uint8_t* take(uint64_t n) {
        if (n > len_ - pos_) fail(cat("truncated: needs ", n, " more bytes, ", len_ - pos_, " left"));
        const uint8_t* p = data_ + pos_;
        pos_ += size_t(n);
        return p;
    }
    uint8_t u8() { return *take(1); }
    uint64_t le(size_t n) { return load_le(take(n), n); }

    Obj* make(Kind k) {
        heap_.push_back(std::make_unique<Obj>(k));
        return heap_.back().get();
    }
    Obj* tuple(std::vector<Obj*> items) {
        Obj* t = make(Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    Obj* integer(int64_t v) {
        Obj* o = make(Kind::Int);
        o->i = v;
        return o;
    }
    Obj* str(uint64_t n) {
        const uint8_t* p = take(n);
        Obj* o = make(Kind::Str);
        o->s.assign(reinterpret_cast<const char*>(p), size_t(n));
        return o;
    }
    Obj* real() {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits = bits << 8 | p[k];  // BINFLOAT is big-endian
        Obj* o = make(Kind::Float);
        std::memcpy(&o->f, &bits, 8);
        return o;
    }
    int64_t long1() {
        const uint8_t n = u8();
        if (n > 8) fail(cat("a ", int(n), "-byte integer does not fit in 64 bits"));
        const uint8_t* p = take(n);
        uint64_t v = load_le(p, n);
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // two's complement sign
        return int64_t(v);
    }

    // Stack discipline as in CPython: MARK starts a new frame, and nothing below it may be popped or seen.
    size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(Obj* o) { stack_.push_back(o); }
    Obj* pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        Obj* o = stack_.back();
        stack_.pop_back();
        return o;
    }
    Obj* top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }
    std::vector<Obj*> pop_mark() {
        if (marks_.empty()) fail("no MARK on the stack");
        const size_t base = marks_.back();
        marks_.pop_back();
        std::vector<Obj*> items(stack_.begin() + ptrdiff_t(base), stack_.end());
        stack_.resize(base);
        return items;
    }
    void put(uint64_t idx) {
        Obj* o = top();
        memo_[idx] = o;
    }
    Obj* get(uint64_t idx) {
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail(cat("memo key ", idx, " was never stored"));
        return it->second;
    }
    void extend(Obj* target, Kind want, const std::vector<Obj*>& items) {
        if (target->kind != want) fail(cat("target is a ", kind_name(target->kind), ", not a ", kind_name(want)));
        target->items.insert(target->items.end(), items.begin(), items.end());
    }

    Obj* global() {
        const std::string module = line(), name = line();
        Obj* g = make(Kind::Global);
        g->s = module + " " + name;
        DType unused = DType::F32;
        if (g->s != kOrderedDict && g->s != kRebuildTensor && g->s != kRebuildParameter && !storage_dtype(g->s, &unused))
            fail(cat("global '", g->s, "' is not allowed (only collections.OrderedDict, torch._utils._rebuild_tensor_v2"
                     "/_rebuild_parameter and torch.{Float,Half,BFloat16,Int,Long}Storage)"));
        return g;
    }
    std::string line() {
        const size_t kMaxLine = 256;  // real module and class names are short; keeps messages readable
        const size_t avail = std::min(len_ - pos_, kMaxLine + 1);
        const void* nl = std::memchr(data_ + pos_, '\n', avail);
        if (!nl) fail(avail > kMaxLine ? "name longer than 256 bytes" : "truncated: name without a newline");
        const size_t n = size_t(static_cast<const uint8_t*>(nl) - (data_ + pos_));
        std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n + 1;
        return s;
    }

    // ('storage', <storage class>, key, location, numel) → a reference to zip member data/<key>.
    Obj* persistent_load(Obj* pid) {
        const auto& a = pid->items;
        DType dtype = DType::F32;
        if (pid->kind != Kind::Tuple || a.size() != 5 || a[0]->kind != Kind::Str || a[0]->s != "storage" ||
            a[1]->kind != Kind::Global || !storage_dtype(a[1]->s, &dtype) || a[2]->kind != Kind::Str ||
            a[3]->kind != Kind::Str || a[4]->kind != Kind::Int || a[4]->i < 0)
            fail("persistent id is not ('storage', <storage class>, key, location, numel)");
        Obj* s = make(Kind::Storage);
        s->dtype = dtype;
        s->s = a[2]->s;
        s->numel = uint64_t(a[4]->i);
        return s;
    }

    std::vector<int64_t> dims(const Obj* t, const char* what) {
        if (t->kind != Kind::Tuple) fail(cat("tensor ", what, " is a ", kind_name(t->kind), ", not a tuple"));
        std::vector<int64_t> out;
        for (const Obj* d : t->items) {
            if (d->kind != Kind::Int || d->i < 0) fail(cat("tensor ", what, " holds a non-integer or negative entry"));
            out.push_back(d->i);
        }
        return out;
    }

    Obj* reduce(Obj* fn, Obj* args) {
        if (fn->kind != Kind::Global) fail(cat("cannot call a ", kind_name(fn->kind)));
        if (args->kind != Kind::Tuple) fail(cat("arguments are a ", kind_name(args->kind), ", not a tuple"));
        const auto& a = args->items;
        if (fn->s == kOrderedDict) {
            if (!a.empty()) fail("OrderedDict(...) with arguments is not supported");
            return make(Kind::Dict);
        }
        if (fn->s == kRebuildParameter) {  // (data, requires_grad, backward_hooks) → the data tensor
            if (a.size() != 3 || a[0]->kind != Kind::Tensor) fail("_rebuild_parameter expects (tensor, bool, hooks)");
            return a[0];
        }
        if (fn->s != kRebuildTensor) fail(cat("cannot call '", fn->s, "'"));
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int || a[1]->i < 0)
            fail("_rebuild_tensor_v2 expects (storage, offset, size, stride, requires_grad, hooks)");
        Obj* t = make(Kind::Tensor);
        t->s = a[0]->s;
        t->dtype = a[0]->dtype;
        t->numel = a[0]->numel;
        t->offset = uint64_t(a[1]->i);
        t->shape = dims(a[2], "size");
        t->stride = dims(a[3], "stride");
        if (t->shape.size() != t->stride.size()) fail("tensor size and stride have different lengths");
        uint64_t n = 1;
        for (int64_t d : t->shape)
            if (__builtin_mul_overflow(n, uint64_t(d), &n)) fail(cat("tensor size ", dims_str(t->shape), " overflows"));
        return t;
    }

    const uint8_t* data_;
    size_t len_;
    const std::string& file_;
    size_t pos_ = 0, op_pos_ = 0;
    uint8_t op_ = 0;
    std::vector<std::unique_ptr<Obj>> heap_;
    std::vector<Obj*> stack_;
    std::vector<size_t> marks_;  // stack heights at each open MARK
    std::unordered_map<uint64_t, Obj*> memo_;
};

// torch writes dense tensors; a view with other strides would need a gather this reader does not do. Strides of
// size-1 dimensions are free, as in torch's own is_contiguous().
bool contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
    for (int64_t d : shape)
        if (d == 0) return true;
    uint64_t expect = 1;  // partial products stay below numel, which reduce() checked fits in 64 bits
    for (size_t d = shape.size(); d-- > 0;) {
        if (shape[d] != 1 && uint64_t(stride[d]) != expect) return false;
        expect *= uint64_t(shape[d]);
    }
    return true;
}

}  // namespace

std::vector<PickledTensor> parse_torch_pickle(const uint8_t* data, size_t len, const std::string& file_name) {
    Vm vm(data, len, file_name);
    const Obj* root = vm.run();
    ENSURE(root->kind == Kind::Dict, file_name, ": pickle holds a ", kind_name(root->kind), ", not a state dict");
    std::vector<PickledTensor> out;
    std::unordered_set<std::string> seen;
    for (size_t k = 0; k + 1 < root->items.size(); k += 2) {
        const Obj* key = root->items[k];
        const Obj* val = root->items[k + 1];
        ENSURE(key->kind == Kind::Str, file_name, ": state dict has a ", kind_name(key->kind), " key, not a str");
        const std::string where = cat(file_name, ": tensor '", key->s, "': ");
        ENSURE(seen.insert(key->s).second, where, "appears twice in the state dict");
        ENSURE(val->kind == Kind::Tensor, where, "value is a ", kind_name(val->kind), ", not a tensor");
        ENSURE(contiguous(val->shape, val->stride), where, "not contiguous (size ", dims_str(val->shape),
               ", stride ", dims_str(val->stride), ")");
        out.push_back(PickledTensor{key->s, val->dtype, val->s, val->numel, val->offset, val->shape});
    }
    return out;
}

}  // namespace ls
