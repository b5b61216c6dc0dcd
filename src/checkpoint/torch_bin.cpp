#include "checkpoint/torch_bin.h"

#include <unordered_map>

#include "checkpoint/torch_pickle.h"
#include "checkpoint/zip_archive.h"
#include "core/check.h"

namespace ls {

std::vector<TensorInfo> parse_torch_zip(const uint8_t* data, size_t len, const std::string& file_name) {
    const std::vector<ZipMember> members = parse_zip(data, len, file_name);

    // The archive folder is whatever prefix data.pkl has; torch names it after the file it saved to.
    const ZipMember* pkl = nullptr;
    for (const ZipMember& m : members) {
        const size_t slash = m.name.find('/');
        if (slash != std::string::npos && m.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            ENSURE(pkl == nullptr, file_name, ": two pickles, '", pkl ? pkl->name : "", "' and '", m.name, "'");
            pkl = &m;
        }
    }
    ENSURE(pkl != nullptr, file_name, ": zip archive has no <archive>/data.pkl member; not a torch.save file");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());

    std::unordered_map<std::string, const ZipMember*> by_name;
    for (const ZipMember& m : members) by_name[m.name] = &m;
    if (auto it = by_name.find(prefix + "byteorder"); it != by_name.end()) {
        const ZipMember& m = *it->second;
        const std::string order(reinterpret_cast<const char*>(data + m.data_offset), size_t(m.size));
        ENSURE(order == "little", file_name, ": member '", m.name, "' says byte order '", order.substr(0, 16),
               "'; only little-endian checkpoints are supported");
    }

    std::vector<TensorInfo> out;
    for (const PickledTensor& p : parse_torch_pickle(data + pkl->data_offset, size_t(pkl->size), file_name)) {
        const std::string where = cat(file_name, ": tensor '", p.name, "': ");
        auto it = by_name.find(prefix + "data/" + p.storage_key);
        ENSURE(it != by_name.end(), where, "storage member '", prefix, "data/", p.storage_key, "' is missing");
        const ZipMember& m = *it->second;
        const uint64_t esize = dtype_size(p.dtype);
        uint64_t numel = 1;
        for (int64_t d : p.shape) numel *= uint64_t(d);  // parse_torch_pickle checked it fits
        uint64_t end = 0, nbytes = 0, begin = 0;
        const bool overflow = __builtin_add_overflow(p.storage_offset, numel, &end) ||
                              __builtin_mul_overflow(end, esize, &end) ||
                              __builtin_mul_overflow(numel, esize, &nbytes) ||
                              __builtin_mul_overflow(p.storage_offset, esize, &begin);
        ENSURE(!overflow && end <= m.size, where, "elements [", p.storage_offset, ", +", numel, ") of ",
               dtype_name(p.dtype), " run past its storage '", m.name, "' (", m.size, " bytes)");
        TensorInfo t;
        t.name = p.name;
        t.dtype = p.dtype;
        t.shape = p.shape;
        t.file = file_name;
        t.offset = m.data_offset + begin;
        t.nbytes = nbytes;
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace ls
