// pytorch_model.bin reading: the zip directory (incl. ZIP64), the restricted pickle VM, and how they join, on
// archives built byte by byte here; plus corruption of the real opt-tiny-bin file.
#include <cstring>

#include "checkpoint/checkpoint.h"
#include "checkpoint/torch_bin.h"
#include "checkpoint/torch_pickle.h"
#include "checkpoint/zip_archive.h"
#include "fixtures.h"

using namespace ls;
using namespace ls::test;
using namespace std::string_literals;

namespace {

const std::string kBin = "/x/pytorch_model.bin";

// Storage "0": 6 floats 0..5; storage "1": 8 halves 10..17.
std::string storage0() {
    std::string s;
    for (int k = 0; k < 6; k++) {
        float v = float(k);
        s.append(reinterpret_cast<const char*>(&v), 4);
    }
    return s;
}
std::string storage1() {
    std::string s;
    for (int k = 0; k < 8; k++) put_le(s, f32_to_f16(float(10 + k)), 2);
    return s;
}

// a: the whole of storage 0 as [2, 3]; b: halves 2..4 of storage 1; c: a [1, 4] view at element 2 of storage 0
// whose size-1 dimension has an arbitrary stride (still contiguous, as torch counts it).
std::vector<PickleTensor> three_tensors() {
    return {{"a", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
            {"b", "HalfStorage", "1", 8, 2, {3}, {1}},
            {"c", "FloatStorage", "0", 6, 2, {1, 4}, {7, 1}}};
}

std::string three_tensor_zip(const ZipLayout& layout = {}, bool ordered = false, const std::string& archive = "archive") {
    return torch_zip(archive, state_dict_pickle(three_tensors(), ordered), {{"0", storage0()}, {"1", storage1()}},
                     layout);
}

std::string zip_error(const std::string& zip) {
    return error_of([&] { parse_torch_zip(bytes(zip), zip.size(), kBin); });
}

std::string pickle_error(const std::string& pkl) {
    return error_of([&] { parse_torch_pickle(bytes(pkl), pkl.size(), kBin); });
}

uint64_t member_offset(const std::string& zip, const std::string& name) {
    for (const ZipMember& m : parse_zip(bytes(zip), zip.size(), "z"))
        if (m.name == name) return m.data_offset;
    FAIL("no member ", name);
    return 0;
}

}  // namespace

TEST_CASE("torch zip: tensors join pickle and members, for every directory layout") {
    struct Case {
        const char* what;
        ZipLayout layout;
        bool ordered;
        const char* archive;
    };
    const Case cases[] = {{"plain", {}, false, "archive"},
                          {"no ZIP64 records", {false, false, 0}, false, "archive"},
                          {"ZIP64 extra fields", {true, true, 0}, false, "pytorch_model"},
                          {"padded local headers", {false, true, 52}, true, "archive"},
                          {"OrderedDict with _metadata", {true, true, 20}, true, "m"}};
    for (const Case& c : cases) {
        CAPTURE(c.what);
        const std::string zip = three_tensor_zip(c.layout, c.ordered, c.archive);
        const std::vector<TensorInfo> ts = parse_torch_zip(bytes(zip), zip.size(), kBin);
        REQUIRE(ts.size() == 3);
        const uint64_t s0 = member_offset(zip, std::string(c.archive) + "/data/0");
        const uint64_t s1 = member_offset(zip, std::string(c.archive) + "/data/1");
        CHECK(zip.substr(s0, 24) == storage0());
        CHECK(ts[0].name == "a");
        CHECK(ts[0].dtype == DType::F32);
        CHECK(ts[0].shape == std::vector<int64_t>{2, 3});
        CHECK(ts[0].offset == s0);
        CHECK(ts[0].nbytes == 24);
        CHECK(ts[1].name == "b");
        CHECK(ts[1].dtype == DType::F16);
        CHECK(ts[1].offset == s1 + 4);
        CHECK(ts[1].nbytes == 6);
        CHECK(ts[2].offset == s0 + 8);
        CHECK(ts[2].file == kBin);
    }
}

TEST_CASE("torch zip: read through Checkpoint") {
    TempDir dir;
    write_file(dir.file("pytorch_model.bin"), three_tensor_zip({true, true, 12}, true));
    Checkpoint ck = Checkpoint::open(dir.str());
    CHECK(ck.format() == "pytorch_bin");
    CHECK(ck.names() == std::vector<std::string>{"a", "b", "c"});
    std::vector<float> out(6);
    ck.read_f32(*ck.find("a"), 0, 2, 0, 3, out.data());
    CHECK(out == std::vector<float>{0, 1, 2, 3, 4, 5});
    ck.read_f32(*ck.find("a"), 1, 2, 1, 3, out.data());
    CHECK(out[0] == 4);
    CHECK(out[1] == 5);
    ck.read_f32(*ck.find("b"), 0, 1, 0, 3, out.data());
    CHECK(out[0] == 12);
    CHECK(out[2] == 14);
    ck.read_f32(*ck.find("c"), 0, 1, 1, 4, out.data());
    CHECK(out[0] == 3);
    CHECK(out[2] == 5);
}

TEST_CASE("torch zip: bad archives name the file and the member") {
    SUBCASE("no end-of-central-directory record") {
        std::string zip = three_tensor_zip();
        zip.resize(zip.size() - 22);
        CHECK_HAS(zip_error(zip), kBin + ": not a zip archive (no end-of-central-directory record");
        CHECK_HAS(zip_error("PK"), kBin + ": not a zip archive");
    }
    SUBCASE("compressed member") {
        const std::string zip = zip_bytes({{"archive/data.pkl", "x", 0}, {"archive/data/0", "abcd", 8}});
        CHECK_HAS(zip_error(zip),
                  kBin + ": member 'archive/data/0' uses compression method 8 (deflate); only stored (method 0)");
    }
    SUBCASE("central directory past the end") {
        std::string zip = three_tensor_zip({false, false, 0});
        const size_t eocd = zip.size() - 22;
        zip[eocd + 19] = '\x7f';  // high byte of the directory offset
        CHECK_HAS(zip_error(zip), kBin + ": central directory [");
        CHECK_HAS(zip_error(zip), "runs past the end of the file");
    }
    SUBCASE("ZIP64 locator pointing nowhere") {
        std::string zip = three_tensor_zip();
        const size_t locator = zip.size() - 22 - 20;
        zip[locator + 8] = '\x01';
        zip[locator + 9] = '\x00';
        CHECK_HAS(zip_error(zip), kBin + ": no ZIP64 end-of-central-directory record at offset");
    }
    SUBCASE("local header offset wrong") {
        std::string zip = zip_bytes({{"archive/data.pkl", "x"}}, {true, true, 0});
        const size_t extra = zip.rfind("archive/data.pkl") + 16;  // the central entry's ZIP64 extra field
        zip[extra + 20] = 5;                                         // local header offset = 5
        CHECK_HAS(zip_error(zip), kBin + ": member 'archive/data.pkl': no local file header at offset 5");
    }
    SUBCASE("member data past the end") {
        std::string zip = zip_bytes({{"archive/data.pkl", "x"}}, {true, true, 0});
        const size_t extra = zip.rfind("archive/data.pkl") + 16;
        zip[extra + 4 + 6] = 1, zip[extra + 12 + 6] = 1;  // both sizes 2^48
        CHECK_HAS(zip_error(zip), kBin + ": member 'archive/data.pkl': data [");
    }
    SUBCASE("no data.pkl") {
        CHECK_HAS(zip_error(zip_bytes({{"archive/data/0", "abcd"}})), kBin + ": zip archive has no <archive>/data.pkl");
    }
    SUBCASE("big-endian byteorder") {
        const std::string zip = zip_bytes({{"archive/data.pkl", state_dict_pickle({})}, {"archive/byteorder", "big"}});
        CHECK_HAS(zip_error(zip), kBin + ": member 'archive/byteorder' says byte order 'big'");
    }
    SUBCASE("missing storage member") {
        const std::string zip = torch_zip("archive", state_dict_pickle(three_tensors()), {{"0", storage0()}});
        CHECK_HAS(zip_error(zip), kBin + ": tensor 'b': storage member 'archive/data/1' is missing");
    }
    SUBCASE("tensor runs past its storage") {
        auto ts = three_tensors();
        ts[1].storage_offset = 6;
        const std::string zip = torch_zip("archive", state_dict_pickle(ts), {{"0", storage0()}, {"1", storage1()}});
        CHECK_HAS(zip_error(zip), kBin + ": tensor 'b': elements [6, +3) of F16 run past its storage "
                                         "'archive/data/1' (16 bytes)");
    }
}

TEST_CASE("torch pickle: disallowed and malformed pickles name the opcode, global and tensor") {
    SUBCASE("non-contiguous tensor") {
        auto ts = three_tensors();
        ts[0].stride = {1, 2};
        CHECK_HAS(pickle_error(state_dict_pickle(ts)), kBin + ": tensor 'a': not contiguous (size [2, 3], stride [1, 2])");
    }
    SUBCASE("GLOBAL os.system inside a tensor entry") {
        auto ts = three_tensors();
        ts[1].rebuild_global = "os\nsystem\n";
        const std::string msg = pickle_error(state_dict_pickle(ts));
        CHECK_HAS(msg, kBin + ": tensor 'b': pickle opcode 0x63 (GLOBAL) at byte ");
        CHECK_HAS(msg, "global 'os system' is not allowed");
    }
    SUBCASE("GLOBAL os.system in a pytorch_model.bin, through Checkpoint::open") {
        auto ts = three_tensors();
        ts[0].rebuild_global = "os\nsystem\n";
        TempDir dir;
        write_file(dir.file("pytorch_model.bin"),
                   torch_zip("archive", state_dict_pickle(ts), {{"0", storage0()}, {"1", storage1()}}));
        const std::string msg = error_of([&] { Checkpoint::open(dir.str()); });
        CHECK_HAS(msg, dir.file("pytorch_model.bin") + ": tensor 'a': pickle opcode 0x63 (GLOBAL)");
        CHECK_HAS(msg, "global 'os system' is not allowed");
    }
    SUBCASE("a storage class that is not allowed") {
        auto ts = three_tensors();
        ts[2].storage_class = "ByteStorage";
        CHECK_HAS(pickle_error(state_dict_pickle(ts)), "tensor 'c': pickle opcode 0x63 (GLOBAL)");
    }
    SUBCASE("INST, OBJ and STACK_GLOBAL") {
        CHECK_HAS(pickle_error("\x80\x02(ios\nsystem\n."), kBin + ": pickle opcode 0x69 (INST) at byte 3: not supported");
        CHECK_HAS(pickle_error("\x80\x02(o."), "pickle opcode 0x6f (OBJ) at byte 3");
        CHECK_HAS(pickle_error("\x80\x02\x8c\x02os\x8c\x06system\x93."), "pickle opcode 0x93 (STACK_GLOBAL) at byte 14");
        // Inside the second entry, the message names the tensor being read.
        std::string p = state_dict_pickle(three_tensors());
        const size_t at = p.find("X\x01\x00\x00\x00" "b"s) + 6;
        p.insert(at, "\x93");
        CHECK_HAS(pickle_error(p), kBin + ": tensor 'b': pickle opcode 0x93 (STACK_GLOBAL)");
    }
    SUBCASE("truncated mid-stream") {
        const std::string p = state_dict_pickle(three_tensors());
        CHECK_HAS(pickle_error(p.substr(0, p.size() - 1)), kBin + ": pickle ended at byte");
        const size_t mid = p.find("storage") + 3;  // inside a BINUNICODE
        CHECK_HAS(pickle_error(p.substr(0, mid)), "(BINUNICODE) at byte");
        CHECK_HAS(pickle_error(p.substr(0, mid)), "truncated: needs 7 more bytes, 3 left");
        for (size_t n = 0; n < p.size(); n++) CHECK(pickle_error(p.substr(0, n)) != "<no error>");
    }
    SUBCASE("stack, mark and memo misuse") {
        CHECK_HAS(pickle_error("\x80\x02t."), "(TUPLE) at byte 2: no MARK on the stack");
        CHECK_HAS(pickle_error("\x80\x02R."), "(REDUCE) at byte 2: stack underflow");
        CHECK_HAS(pickle_error("\x80\x02N(\x85."), "(TUPLE1) at byte 4: stack underflow");  // not below a MARK
        CHECK_HAS(pickle_error("\x80\x02h\x05."), "(BINGET) at byte 2: memo key 5 was never stored");
        CHECK_HAS(pickle_error("\x80\x02N."), kBin + ": pickle holds a None, not a state dict");
        CHECK_HAS(pickle_error("\x80\x02}K\x01Ns."), kBin + ": state dict has a int key");
        CHECK_HAS(pickle_error("\x80\x02}X\x01\x00\x00\x00kNs."s), kBin + ": tensor 'k': value is a None, not a tensor");
        CHECK_HAS(pickle_error("\x80\x02NNb."), "(BUILD) at byte 4: BUILD (setting state) on a None");
        CHECK_HAS(pickle_error("\x80\x02NNs."), "(SETITEM) at byte 4: stack underflow");
        CHECK_HAS(pickle_error("\x80\x02NNNs."), "target is a None, not a dict");
        CHECK_HAS(pickle_error("\x80\x06}."), "protocol 6");
        CHECK_HAS(pickle_error("\x80\x02\x8a\x09"), "9-byte integer");
        CHECK_HAS(pickle_error("\x80\x02QN."), "(BINPERSID) at byte 2: stack underflow");
        CHECK_HAS(pickle_error("\x80\x02NQ."), "persistent id is not ('storage'");
        CHECK_HAS(pickle_error("\x80\x02\x01"), "opcode 0x01 (not a pickle opcode)");
    }
    SUBCASE("duplicate key") {
        auto ts = three_tensors();
        ts[2].name = "a";
        CHECK_HAS(pickle_error(state_dict_pickle(ts)), kBin + ": tensor 'a': appears twice in the state dict");
    }
}

TEST_CASE("torch pickle and zip: random corruption raises ls::Error, never crashes") {
    const std::string pkl = state_dict_pickle(three_tensors(), true);
    const std::string zip = three_tensor_zip({true, true, 8}, true);
    uint64_t rng = 99;
    auto next = [&] { return rng = rng * 6364136223846793005ull + 1442695040888963407ull; };
    for (int iter = 0; iter < 3000; iter++) {
        std::string p = iter % 2 ? pkl : zip;
        for (int k = 0; k < 1 + iter % 3; k++) p[(next() >> 33) % p.size()] = char(next() >> 40);
        try {
            if (iter % 2)
                parse_torch_pickle(bytes(p), p.size(), "fuzz");
            else
                parse_torch_zip(bytes(p), p.size(), "fuzz");
        } catch (const Error&) {
        }
    }
}

TEST_CASE("real opt-tiny-bin: truncated copy has no EOCD; the real pickle uses only allowed opcodes") {
    const std::string src = read_file(kModels + "/opt-tiny-bin/pytorch_model.bin");
    TempDir dir;
    write_file(dir.file("pytorch_model.bin"), src.substr(0, src.size() / 2));
    CHECK_HAS(error_of([&] { Checkpoint::open(dir.str()); }),
              dir.file("pytorch_model.bin") + ": not a zip archive (no end-of-central-directory record");

    std::string pkl;
    for (const ZipMember& m : parse_zip(bytes(src), src.size(), "bin"))
        if (m.name.ends_with("/data.pkl")) pkl = src.substr(m.data_offset, m.size);
    REQUIRE(pkl.size() > 100);
    CHECK(parse_torch_pickle(bytes(pkl), pkl.size(), "bin").size() == 36);
}
