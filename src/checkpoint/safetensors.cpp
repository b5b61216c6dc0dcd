#include "checkpoint/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "checkpoint/le_bytes.h"
#include "core/check.h"

namespace ls {

namespace {

using nlohmann::json;

// Prints a value for an error message. Only flat arrays of scalars are dumped: dump() recurses, and a hostile
// header could nest arrays deep enough to overflow the stack.
std::string brief(const json& v) {
    if (v.is_primitive()) return v.dump();
    if (v.is_array() && v.size() <= 16 &&
        std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_primitive(); }))
        return v.dump();
    return cat("<", v.type_name(), ">");
}

bool parse_dtype(const std::string& s, DType* out) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64}) {
        if (s == dtype_name(t)) {
            *out = t;
            return true;
        }
    }
    return false;
}

// A JSON integer that fits in int64 and is >= 0; nlohmann stores non-negative literals as unsigned.
bool non_negative_int(const json& v, uint64_t* out) {
    if (v.is_number_unsigned()) {
        *out = v.get<uint64_t>();
        return *out <= uint64_t(INT64_MAX);
    }
    if (v.is_number_integer() && v.get<int64_t>() >= 0) {
        *out = uint64_t(v.get<int64_t>());
        return true;
    }
    return false;
}

TensorInfo parse_entry(const std::string& name, const json& e, uint64_t data_start, uint64_t data_size,
                       const std::string& file) {
    const std::string where = cat(file, ": tensor '", name, "': ");
    ENSURE(e.is_object(), where, "header entry is not a JSON object");
    TensorInfo t;
    t.name = name;
    t.file = file;

    auto dt = e.find("dtype");
    ENSURE(dt != e.end() && dt->is_string(), where, "missing or non-string \"dtype\"");
    ENSURE(parse_dtype(dt->get<std::string>(), &t.dtype), where, "unsupported dtype '", dt->get<std::string>(),
           "' (supported: F32, F16, BF16, I32, I64)");

    auto sh = e.find("shape");
    ENSURE(sh != e.end() && sh->is_array(), where, "missing or non-array \"shape\"");
    uint64_t numel = 1;
    for (const json& d : *sh) {
        uint64_t n = 0;
        ENSURE(non_negative_int(d, &n), where, "shape ", brief(*sh), " has an entry that is not a non-negative integer");
        ENSURE(!__builtin_mul_overflow(numel, n, &numel), where, "shape ", brief(*sh), " overflows 64 bits");
        t.shape.push_back(int64_t(n));
    }
    uint64_t expect = 0;
    ENSURE(!__builtin_mul_overflow(numel, uint64_t(dtype_size(t.dtype)), &expect), where, "shape ", brief(*sh),
           " overflows 64 bits");

    auto off = e.find("data_offsets");
    ENSURE(off != e.end() && off->is_array() && off->size() == 2, where,
           "missing \"data_offsets\" or not a [begin, end] pair");
    uint64_t begin = 0, end = 0;
    ENSURE(non_negative_int((*off)[0], &begin) && non_negative_int((*off)[1], &end), where, "data_offsets ",
           brief(*off), " are not non-negative integers");
    ENSURE(begin <= end, where, "data_offsets ", brief(*off), ": begin is after end");
    ENSURE(end <= data_size, where, "data_offsets ", brief(*off), " run past the end of the data section (",
           data_size, " bytes; the file is truncated or the offsets are wrong)");
    ENSURE(end - begin == expect, where, "data_offsets ", brief(*off), " span ", end - begin, " bytes but shape ",
           brief(*sh), " of ", dt->get<std::string>(), " needs ", expect);
    t.offset = data_start + begin;
    t.nbytes = expect;
    return t;
}

}  // namespace

std::vector<TensorInfo> parse_safetensors_header(const uint8_t* data, size_t len, uint64_t file_size,
                                                 const std::string& file_name) {
    ENSURE(file_size >= 8 && len >= 8, file_name, ": too short for a safetensors file (", file_size, " bytes)");
    const uint64_t n = load_u64(data);
    ENSURE(n <= file_size - 8, file_name, ": header length ", n, " runs past the end of the file (", file_size,
           " bytes)");
    ENSURE(n <= kMaxSafetensorsHeader, file_name, ": header length ", n, " exceeds the ", kMaxSafetensorsHeader,
           "-byte limit (corrupt file?)");
    ENSURE(n <= len - 8, file_name, ": only ", len, " bytes available for a header of ", n, " bytes");

    json header;
    try {
        header = json::parse(data + 8, data + 8 + n);
    } catch (const json::exception& e) {
        raise(file_name, ": header is not valid JSON: ", e.what());
    }
    ENSURE(header.is_object(), file_name, ": header is JSON but not an object (", header.type_name(), ")");

    const uint64_t data_start = 8 + n;
    const uint64_t data_size = file_size - data_start;
    std::vector<TensorInfo> out;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") continue;
        out.push_back(parse_entry(it.key(), it.value(), data_start, data_size, file_name));
    }

    // Two tensors sharing bytes would let a write through one corrupt the other; safetensors forbids it.
    std::vector<const TensorInfo*> by_offset;
    for (const TensorInfo& t : out)
        if (t.nbytes > 0) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); i++) {
        const TensorInfo& a = *by_offset[i - 1];
        const TensorInfo& b = *by_offset[i];
        ENSURE(a.offset + a.nbytes <= b.offset, file_name, ": tensors '", a.name, "' and '", b.name,
               "' overlap (data_offsets [", a.offset - data_start, ", ", a.offset - data_start + a.nbytes,
               ") and [", b.offset - data_start, ", ", b.offset - data_start + b.nbytes, "))");
    }
    return out;
}

}  // namespace ls
