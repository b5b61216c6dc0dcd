// The restricted pickle VM on its own (data.pkl of a torch.save state dict), without the zip around it.
#include <cstdint>

#include "checkpoint/torch_pickle.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<ls::PickledTensor> tensors;
    if (!ls::fuzz::accepts([&] { tensors = ls::parse_torch_pickle(data, size, "fuzz.pkl"); })) return 0;
    for (const ls::PickledTensor& t : tensors) {
        uint64_t numel = 1;
        for (int64_t d : t.shape) {
            FUZZ_ASSERT(d >= 0);
            FUZZ_ASSERT(!__builtin_mul_overflow(numel, uint64_t(d), &numel));  // promised by the header
        }
    }
    return 0;
}
