// pytorch_model.bin: parse_zip (the central directory) and parse_torch_zip (zip + data.pkl + storages) on the
// whole file. Every member and tensor they return must lie inside the input; touch() lets ASan check that.
#include <cstdint>

#include "checkpoint/torch_bin.h"
#include "checkpoint/zip_archive.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<ls::ZipMember> members;
    if (ls::fuzz::accepts([&] { members = ls::parse_zip(data, size, "fuzz.bin"); })) {
        for (const ls::ZipMember& m : members) {
            FUZZ_ASSERT(m.data_offset <= size && m.size <= size - m.data_offset);
            ls::fuzz::touch(data + m.data_offset, m.size);
        }
    }
    std::vector<ls::TensorInfo> tensors;
    if (ls::fuzz::accepts([&] { tensors = ls::parse_torch_zip(data, size, "fuzz.bin"); })) {
        for (const ls::TensorInfo& t : tensors) {
            FUZZ_ASSERT(t.offset <= size && t.nbytes <= size - t.offset);
            ls::fuzz::touch(data + t.offset, t.nbytes);
        }
    }
    return 0;
}
