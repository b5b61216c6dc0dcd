// The inputs a CUDA graph replays: a decode batch padded to the graph's size (one-token sequences whose K/V
// go nowhere, block tables widened) must give the real rows exactly the logits of the unpadded batch. Run on
// the CPU backend with the eager forward, which computes what the graph records.
#include <doctest/doctest.h>

#include <cmath>

#include "backend/cpu_backend.h"
#include "backend/op_profile.h"
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

TEST_CASE("a step's inputs reach the device in one copy, into a buffer that a CUDA graph's views keep") {
    ProfilingBackend be(std::make_unique<CpuBackend>(1, 1e9));
    const auto copies = [&] { return be.profile()[size_t(OpKind::Copy)].calls; };
    const auto at = [](const Tensor& t, int64_t i) { return t.i32()[i]; };
    DeviceStep d;
    upload_plan(be, decode({3, 6, 1}), 4, d, {8, 5});  // the largest graph is captured first
    CHECK(copies() == 1);
    const StepInputs first = d.inputs;
    const void* base = d.buffer.tensor().data;
    CHECK(d.buffer.tensor().numel() == padded_step_elements(8, 5));
    // What the padded arrays hold: the real rows, then padding at position 0 whose K/V go nowhere.
    CHECK(at(d.inputs.token_ids, 2) == 52);
    CHECK(at(d.inputs.token_ids, 3) == 0);
    CHECK(at(d.inputs.slot_mapping, 1) == (2 * 1 + 6 / 4) * 4 + 6 % 4);
    CHECK(at(d.inputs.slot_mapping, 7) == -1);
    CHECK(at(d.inputs.attn.positions, 1) == 6);
    CHECK(at(d.inputs.attn.query_start, 8) == 8);
    CHECK(at(d.inputs.sample_rows, 7) == 7);
    CHECK(at(d.inputs.attn.block_tables, 1 * 5 + 1) == 3);  // sequence 1's second block, in a row 5 wide
    CHECK(at(d.inputs.attn.block_tables, 1 * 5 + 2) == 0);

    upload_plan(be, decode({2, 2}), 4, d, {4, 5});  // a smaller graph: the same buffer
    CHECK(d.buffer.tensor().data == base);
    upload_plan(be, decode({4, 4, 4, 4, 4}), 4, d, {8, 5});  // replaying the first: the views it captured
    CHECK(copies() == 3);
    CHECK(d.inputs.token_ids.data == first.token_ids.data);
    CHECK(d.inputs.slot_mapping.data == first.slot_mapping.data);
    CHECK(d.inputs.sample_rows.data == first.sample_rows.data);
    CHECK(d.inputs.attn.positions.data == first.attn.positions.data);
    CHECK(d.inputs.attn.query_start.data == first.attn.query_start.data);
    CHECK(d.inputs.attn.block_tables.data == first.attn.block_tables.data);
    CHECK(at(d.inputs.token_ids, 4) == 54);

    DeviceStep eager;  // unpadded: the plan's arrays as they are
    const StepPlan pre = prefill({3, 2});
    upload_plan(be, pre, 4, eager);
    CHECK(copies() == 4);
    CHECK(eager.inputs.token_ids.numel() == 5);
    CHECK(at(eager.inputs.attn.positions, 4) == 1);
    CHECK(at(eager.inputs.attn.query_start, 2) == 5);
    CHECK(at(eager.inputs.sample_rows, 1) == 4);
    CHECK(at(eager.inputs.attn.block_tables, 3) == 3);
}
