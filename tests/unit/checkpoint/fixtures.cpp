#include "fixtures.h"

using namespace std::string_literals;

namespace ls::test {

std::string zip_bytes(const std::vector<ZipEntry>& entries, const ZipLayout& layout) {
    std::string out;
    std::vector<uint64_t> offsets;
    for (const ZipEntry& e : entries) {
        offsets.push_back(out.size());
        put_le(out, 0x04034b50, 4);
        put_le(out, 20, 2);  // version needed
        put_le(out, 0, 2);   // flags
        put_le(out, e.method, 2);
        put_le(out, 0, 4);  // time, date
        put_le(out, 0, 4);  // crc (not checked)
        put_le(out, e.data.size(), 4);
        put_le(out, e.data.size(), 4);
        put_le(out, e.name.size(), 2);
        put_le(out, layout.local_pad ? layout.local_pad + 4 : 0, 2);
        out += e.name;
        if (layout.local_pad) {
            put_le(out, 0x4246, 2);
            put_le(out, layout.local_pad, 2);
            out.append(layout.local_pad, 'Z');
        }
        out += e.data;
    }
    const uint64_t cd_offset = out.size();
    for (size_t k = 0; k < entries.size(); k++) {
        const ZipEntry& e = entries[k];
        const uint64_t big = 0xffffffff;
        put_le(out, 0x02014b50, 4);
        put_le(out, 20, 2);
        put_le(out, 20, 2);
        put_le(out, 0, 2);
        put_le(out, e.method, 2);
        put_le(out, 0, 4);
        put_le(out, 0, 4);
        put_le(out, layout.zip64_fields ? big : e.data.size(), 4);
        put_le(out, layout.zip64_fields ? big : e.data.size(), 4);
        put_le(out, e.name.size(), 2);
        put_le(out, layout.zip64_fields ? 28 : 0, 2);
        put_le(out, 0, 2);  // comment
        put_le(out, 0, 2);  // disk
        put_le(out, 0, 2);  // internal attributes
        put_le(out, 0, 4);  // external attributes
        put_le(out, layout.zip64_fields ? big : offsets[k], 4);
        out += e.name;
        if (layout.zip64_fields) {
            put_le(out, 0x0001, 2);
            put_le(out, 24, 2);
            put_le(out, e.data.size(), 8);
            put_le(out, e.data.size(), 8);
            put_le(out, offsets[k], 8);
        }
    }
    const uint64_t cd_size = out.size() - cd_offset;
    if (layout.zip64_eocd) {
        const uint64_t rec = out.size();
        put_le(out, 0x06064b50, 4);
        put_le(out, 44, 8);
        put_le(out, 45, 2);
        put_le(out, 45, 2);
        put_le(out, 0, 4);
        put_le(out, 0, 4);
        put_le(out, entries.size(), 8);
        put_le(out, entries.size(), 8);
        put_le(out, cd_size, 8);
        put_le(out, cd_offset, 8);
        put_le(out, 0x07064b50, 4);
        put_le(out, 0, 4);
        put_le(out, rec, 8);
        put_le(out, 1, 4);
    }
    const bool defer = layout.zip64_fields && layout.zip64_eocd;
    put_le(out, 0x06054b50, 4);
    put_le(out, 0, 4);
    put_le(out, defer ? 0xffff : entries.size(), 2);
    put_le(out, defer ? 0xffff : entries.size(), 2);
    put_le(out, defer ? 0xffffffff : cd_size, 4);
    put_le(out, defer ? 0xffffffff : cd_offset, 4);
    put_le(out, 0, 2);
    return out;
}

namespace {

void unicode(std::string& p, const std::string& s) {
    p += 'X';
    put_le(p, s.size(), 4);
    p += s;
}

void binint(std::string& p, int64_t v) {
    p += 'J';
    put_le(p, uint64_t(v), 4);
}

void int_tuple(std::string& p, const std::vector<int64_t>& v) {
    p += '(';
    for (int64_t x : v) binint(p, x);
    p += 't';
}

const char* kOrderedDict = "ccollections\nOrderedDict\n";

}  // namespace

std::string state_dict_pickle(const std::vector<PickleTensor>& tensors, bool ordered) {
    std::string p = "\x80\x02";
    if (ordered) {
        p += kOrderedDict;
        p += ")R";
    } else {
        p += '}';
    }
    p += "q\x00("s;
    for (const PickleTensor& t : tensors) {
        unicode(p, t.name);
        p += 'c' + t.rebuild_global;
        p += "((";
        unicode(p, "storage");
        p += "ctorch\n" + t.storage_class + "\n";
        unicode(p, t.key);
        unicode(p, "cpu");
        binint(p, t.storage_numel);
        p += "tQ";
        binint(p, t.storage_offset);
        int_tuple(p, t.size);
        int_tuple(p, t.stride);
        p += '\x89';
        p += kOrderedDict;
        p += ")RtR";
    }
    p += 'u';
    if (ordered) {
        // state {'_metadata': OrderedDict({'': {'version': 1, ...}})}, with the other value kinds mixed in.
        p += "}\x8c\x09_metadata";
        p += kOrderedDict;
        p += ")R\x94(\x8c\x00}"s;                                  // MEMOIZE → memo 1; MARK '' {}
        p += "\x8c\x07versionK\x01s";                               // 'version': 1
        p += "\x8c\x01xG\x3f\xf8\x00\x00\x00\x00\x00\x00s"s;  // 'x': 1.5
        p += "\x8c\x01yNs";                                          // 'y': None
        p += "\x8c\x01z\x8a\x02\x00\x80s"s;                       // 'z': LONG1 -32768
        p += "\x8c\x01w]\x88" "a(\x89Mxx\x85" "es";                // 'w': [True, False, (0x7878,)]
        p += "\x8c\x01vh\x00j\x01\x00\x00\x00\x86r\x02\x00\x00\x00s"s;  // 'v': (od, metadata), memo 2
        p += "\x8c\x01u\x8d\x02\x00\x00\x00\x00\x00\x00\x00ok))\x87s"s;   // 'u': (BINUNICODE8, (), ())
        p += "us";  // SETITEMS into the metadata OrderedDict; SETITEM '_metadata' into the state
        p += 'b';   // BUILD: the state dict gets `_metadata`, ignored
    }
    p += '.';
    return p;
}

std::string torch_zip(const std::string& archive, const std::string& pickle,
                      const std::vector<std::pair<std::string, std::string>>& storages, const ZipLayout& layout) {
    std::vector<ZipEntry> entries{{archive + "/data.pkl", pickle}};
    for (const auto& [key, data] : storages) entries.push_back({archive + "/data/" + key, data});
    entries.push_back({archive + "/version", "3\n"});
    return zip_bytes(entries, layout);
}

}  // namespace ls::test
