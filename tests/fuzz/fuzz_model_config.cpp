// config.json → ModelConfig: any JSON text; an accepted config must satisfy what the model code relies on.
#include <cstdint>
#include <string>

#include "config/model_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    ls::ModelConfig c;
    if (!ls::fuzz::accepts([&] { c = ls::parse_model_config(text, "fuzz/config.json"); })) return 0;
    FUZZ_ASSERT(c.model_type == "opt");
    FUZZ_ASSERT(c.n_vocab > 0 && c.d_model > 0 && c.n_heads > 0 && c.n_layers > 0 && c.d_ff > 0);
    FUZZ_ASSERT(c.max_positions > 0 && c.d_embed > 0);
    FUZZ_ASSERT(c.d_model % c.n_heads == 0 && c.d_head() > 0);
    for (int id : {c.bos_id, c.eos_id, c.pad_id}) FUZZ_ASSERT(id >= 0 && id < c.n_vocab);
    FUZZ_ASSERT(!c.final_layer_norm || c.pre_ln);
    return 0;
}
