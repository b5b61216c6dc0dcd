// The inputs a CUDA graph replays: a decode batch padded to the graph's size (one-token sequences whose K/V
// go nowhere, block tables widened) must give the real rows exactly the logits of the unpadded batch. Run on
// the CPU backend with the eager forward, which computes what the graph records.
#include <doctest/doctest.h>

#include <cmath>

#include "backend/cpu_backend.h"
#include "engine/device_step.h"
#include "model/opt.h"
#include "../fake_communicator.h"

using namespace ls;

namespace {

// Sequence s has len[s] tokens cached in blocks 2s, 2s+1 (block size 4) and decodes one more token.
StepPlan prefill(const std::vector<int>& len) {
    StepPlan p;
    p.max_blocks = 2;
    p.query_start.push_back(0);
    for (int s = 0; s < int(len.size()); s++) {
        p.seq_ids.push_back(s);
        for (int j = 0; j < len[size_t(s)]; j++) {
            p.token_ids.push_back(10 + 7 * s + j);
            p.positions.push_back(j);
            p.slot_mapping.push_back((2 * s + j / 4) * 4 + j % 4);
        }
        p.query_start.push_back(p.n_tokens());
        p.sample_rows.push_back(p.n_tokens() - 1);
        p.block_tables.insert(p.block_tables.end(), {2 * s, 2 * s + 1});
    }
    return p;
}

StepPlan decode(const std::vector<int>& len) {
    StepPlan p;
    p.max_blocks = 2;
    p.query_start.push_back(0);
    for (int s = 0; s < int(len.size()); s++) {
        const int j = len[size_t(s)];
        p.seq_ids.push_back(s);
        p.token_ids.push_back(50 + s);
        p.positions.push_back(j);
        p.slot_mapping.push_back((2 * s + j / 4) * 4 + j % 4);
        p.query_start.push_back(s + 1);
        p.sample_rows.push_back(s);
        p.block_tables.insert(p.block_tables.end(), {2 * s, 2 * s + 1});
    }
    return p;
}

}  // namespace

TEST_CASE("a decode batch padded for a CUDA graph gives the real rows the unpadded logits") {
    const std::string dir = std::string(LOCKSTEP_SHARED_DIR) + "/models/opt-tiny";
    const ModelConfig cfg = load_model_config(dir);
    CpuBackend be(1, 1e9);
    FakeCommunicator tp;  // a TP group of one
    const Checkpoint ckpt = Checkpoint::open(dir);
    OptModel model(cfg, be, tp, PipelineStage{{0, cfg.n_layers}, 0, 1, nullptr}, ckpt, 64);
    const std::vector<int> len = {3, 6, 1};
    const StepPlan pre = prefill(len), dec = decode(len);

    std::vector<float> eager, padded;
    for (int pad : {0, 8}) {
        KvCache kv = make_kv_cache(be, cfg.n_layers, 16, 4, model.d_local());
        DeviceStep dev;
        upload_plan(be, pre, 4, dev);
        model.forward(dev.inputs, kv);
        if (pad) {  // the graph's shapes: 8 sequences, block tables 5 wide; slots of the padding rows are -1
            upload_plan(be, dec, 4, dev, {pad, 5});
            CHECK(dev.inputs.token_ids.numel() == 8);
            CHECK(dev.inputs.attn.block_tables.cols() == 5);
        } else {
            upload_plan(be, dec, 4, dev);
        }
        model.forward(dev.inputs, kv);
        model.read_logits(int64_t(dec.sample_rows.size()), pad ? padded : eager);
    }
    REQUIRE(eager.size() == size_t(3 * cfg.n_vocab));
    REQUIRE(padded.size() == eager.size());
    float worst = 0;
    for (size_t i = 0; i < eager.size(); i++) worst = std::max(worst, std::fabs(eager[i] - padded[i]));
    CHECK(worst < 1e-5f);
}

TEST_CASE("a padded upload refuses a step that is not a decode batch, or one too large for the graph") {
    CpuBackend be(1, 1e9);
    DeviceStep dev;
    CHECK_THROWS_WITH_AS(upload_plan(be, prefill({3, 2}), 4, dev, {8, 5}), doctest::Contains("cannot run a step"),
                         Error);
    CHECK_THROWS_WITH_AS(upload_plan(be, decode({3, 2, 1}), 4, dev, {2, 5}), doctest::Contains("cannot run a step"),
                         Error);
}

TEST_CASE("block tables stay 2-D when every sequence fits in one block, padded or not") {
    // The CUDA backend's attention checks block_tables.ndim == 2; a one-column table must not become a vector.
    CpuBackend be(1, 1e9);
    StepPlan p = decode({2, 3});
    p.max_blocks = 1;
    p.block_tables = {0, 2};
    DeviceStep d;
    upload_plan(be, p, 4, d);
    CHECK(d.inputs.attn.block_tables.ndim == 2);
    CHECK(d.inputs.attn.block_tables.shape[0] == 2);
    CHECK(d.inputs.attn.block_tables.shape[1] == 1);
    CHECK(d.inputs.token_ids.ndim == 1);
    DeviceStep padded_step;
    upload_plan(be, p, 4, padded_step, StepPadding{4, 1});
    CHECK(padded_step.inputs.attn.block_tables.ndim == 2);
    CHECK(padded_step.inputs.attn.block_tables.shape[0] == 4);
    CHECK(padded_step.inputs.attn.block_tables.shape[1] == 1);
}
