#include "checkpoint/zip_archive.h"

#include <unordered_set>

#include "checkpoint/le_bytes.h"
#include "core/check.h"

namespace ls {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22, kZip64EocdSize = 56, kZip64LocatorSize = 20, kCentralSize = 46, kLocalSize = 30;

struct Directory {
    uint64_t n_entries = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
};

// Scans backwards so that a stray signature inside the comment of a well-formed file is not taken first.
size_t find_eocd(const uint8_t* data, size_t len, const std::string& file) {
    ENSURE(len >= kEocdSize, file, ": not a zip archive (", len, " bytes, too short for an end-of-central-directory "
           "record)");
    const size_t last = len - kEocdSize;
    const size_t first = last > 65535 ? last - 65535 : 0;
    for (size_t pos = last + 1; pos-- > first;) {
        if (load_u32(data + pos) == kEocdSig && pos + kEocdSize + load_u16(data + pos + 20) <= len) return pos;
    }
    raise(file, ": not a zip archive (no end-of-central-directory record in the last ", len - first, " bytes)");
}

Directory read_directory(const uint8_t* data, size_t len, const std::string& file) {
    const size_t eocd = find_eocd(data, len, file);
    const uint8_t* e = data + eocd;
    ENSURE(load_u16(e + 4) == 0 && load_u16(e + 6) == 0, file, ": multi-disk zip archives are not supported");
    Directory d{load_u16(e + 10), load_u32(e + 16), load_u32(e + 12)};

    if (eocd >= kZip64LocatorSize && load_u32(e - kZip64LocatorSize) == kZip64LocatorSig) {
        const uint8_t* loc = e - kZip64LocatorSize;
        const uint64_t rec = load_u64(loc + 8);
        ENSURE(load_u32(loc + 4) == 0 && load_u32(loc + 16) <= 1, file,
               ": multi-disk zip archives are not supported (ZIP64 locator)");
        ENSURE(rec <= len && len - rec >= kZip64EocdSize, file, ": ZIP64 end-of-central-directory offset ", rec,
               " runs past the end of the file (", len, " bytes)");
        const uint8_t* z = data + rec;
        ENSURE(load_u32(z) == kZip64EocdSig, file, ": no ZIP64 end-of-central-directory record at offset ", rec);
        ENSURE(load_u32(z + 16) == 0 && load_u32(z + 20) == 0, file, ": multi-disk zip archives are not supported");
        d = Directory{load_u64(z + 32), load_u64(z + 48), load_u64(z + 40)};
    } else {
        ENSURE(d.n_entries != 0xffff && d.offset != 0xffffffff && d.size != 0xffffffff, file,
               ": end-of-central-directory record defers to ZIP64 but there is no ZIP64 locator");
    }
    ENSURE(d.offset <= len && d.size <= len - d.offset, file, ": central directory [", d.offset, ", +", d.size,
           ") runs past the end of the file (", len, " bytes)");
    ENSURE(d.n_entries <= d.size / kCentralSize, file, ": central directory claims ", d.n_entries,
           " entries but holds only ", d.size, " bytes");
    return d;
}

struct CentralEntry {
    std::string name;
    uint16_t flags = 0, method = 0;
    uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

// Replaces the 0xffffffff placeholders of a central entry by the ZIP64 extra field's 8-byte values, which appear
// in a fixed order and only for the fields that overflowed.
void apply_zip64_extra(const uint8_t* x, size_t n, CentralEntry& c, const std::string& where) {
    size_t p = 0;
    while (p + 4 <= n) {
        const uint16_t id = load_u16(x + p), sz = load_u16(x + p + 2);
        ENSURE(p + 4 + sz <= n, where, ": extra field runs past its entry");
        if (id == 0x0001) {
            const uint8_t* f = x + p + 4;
            size_t q = 0;
            for (uint64_t* v : {&c.uncompressed, &c.compressed, &c.local_offset}) {
                if (*v != 0xffffffff) continue;
                ENSURE(q + 8 <= sz, where, ": ZIP64 extra field is too short");
                *v = load_u64(f + q);
                q += 8;
            }
        }
        p += 4 + size_t(sz);
    }
}

CentralEntry read_central(const uint8_t* data, uint64_t pos, uint64_t dir_end, const std::string& file) {
    ENSURE(dir_end - pos >= kCentralSize && load_u32(data + pos) == kCentralSig, file,
           ": bad central directory entry at offset ", pos);
    const uint8_t* h = data + pos;
    const uint16_t name_len = load_u16(h + 28), extra_len = load_u16(h + 30), comment_len = load_u16(h + 32);
    ENSURE(dir_end - pos - kCentralSize >= uint64_t(name_len) + extra_len + comment_len, file,
           ": central directory entry at offset ", pos, " runs past the directory");
    CentralEntry c;
    c.name.assign(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    c.flags = load_u16(h + 8);
    c.method = load_u16(h + 10);
    c.compressed = load_u32(h + 20);
    c.uncompressed = load_u32(h + 24);
    c.local_offset = load_u32(h + 42);
    apply_zip64_extra(h + kCentralSize + name_len, extra_len, c, cat(file, ": member '", c.name, "'"));
    return c;
}

}  // namespace

std::vector<ZipMember> parse_zip(const uint8_t* data, size_t len, const std::string& file_name) {
    const Directory d = read_directory(data, len, file_name);
    std::vector<ZipMember> out;
    std::unordered_set<std::string> seen;
    uint64_t pos = d.offset;
    const uint64_t dir_end = d.offset + d.size;
    for (uint64_t i = 0; i < d.n_entries; i++) {
        const CentralEntry c = read_central(data, pos, dir_end, file_name);
        pos += kCentralSize + load_u16(data + pos + 28) + load_u16(data + pos + 30) + load_u16(data + pos + 32);
        const std::string where = cat(file_name, ": member '", c.name, "'");
        ENSURE(seen.insert(c.name).second, where, " appears twice in the central directory");
        ENSURE((c.flags & 1) == 0, where, " is encrypted; not supported");
        ENSURE(c.method == 0, where, " uses compression method ", c.method,
               (c.method == 8 ? " (deflate)" : ""), "; only stored (method 0) members are supported");
        ENSURE(c.compressed == c.uncompressed, where, " is stored but its compressed size ", c.compressed,
               " differs from its size ", c.uncompressed);

        // The local header's sizes may be zero (torch sets the data-descriptor flag), so only its name and extra
        // lengths are used, to find where the data begins.
        ENSURE(c.local_offset <= len && len - c.local_offset >= kLocalSize, where, ": local header offset ",
               c.local_offset, " runs past the end of the file (", len, " bytes)");
        const uint8_t* l = data + c.local_offset;
        ENSURE(load_u32(l) == kLocalSig, where, ": no local file header at offset ", c.local_offset);
        const uint64_t start = c.local_offset + kLocalSize + load_u16(l + 26) + load_u16(l + 28);
        ENSURE(start <= len && c.uncompressed <= len - start, where, ": data [", start, ", +", c.uncompressed,
               ") runs past the end of the file (", len, " bytes)");
        out.push_back(ZipMember{c.name, start, c.uncompressed});
    }
    return out;
}

}  // namespace ls
