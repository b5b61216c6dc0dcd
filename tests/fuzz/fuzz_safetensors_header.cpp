// parse_safetensors_header on the first bytes of a file: once as the whole file, once as the head of a much
// larger one (so that offsets far past the buffer reach the overlap and size checks).
#include <cstdint>

#include "checkpoint/le_bytes.h"
#include "checkpoint/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    for (uint64_t extra : {uint64_t(0), uint64_t(1) << 40}) {
        const uint64_t file_size = size + extra;
        std::vector<ls::TensorInfo> tensors;
        if (!ls::fuzz::accepts([&] { tensors = ls::parse_safetensors_header(data, size, file_size, "fuzz"); }))
            continue;
        const uint64_t data_start = 8 + ls::load_u64(data);
        for (const ls::TensorInfo& t : tensors) {
            FUZZ_ASSERT(t.offset >= data_start && t.offset <= file_size && t.nbytes <= file_size - t.offset);
            uint64_t numel = 1;
            for (int64_t d : t.shape) {
                FUZZ_ASSERT(d >= 0);
                FUZZ_ASSERT(!__builtin_mul_overflow(numel, uint64_t(d), &numel));
            }
            uint64_t nbytes = 0;
            FUZZ_ASSERT(!__builtin_mul_overflow(numel, uint64_t(ls::dtype_size(t.dtype)), &nbytes) &&
                        nbytes == t.nbytes);
            if (extra == 0) ls::fuzz::touch(data + t.offset, t.nbytes);
        }
    }
    return 0;
}
