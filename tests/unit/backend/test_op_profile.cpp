// ProfilingBackend (--profile-ops): it forwards every op unchanged, counts each to its kind, and takes the
// time from the wrapped backend's stopwatches, reading one only once the device is done with it.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "backend/cpu_backend.h"
#include "backend/op_profile.h"

using namespace ls;

namespace {

// A device whose every op takes 0.25 s by its stopwatches, and that finishes its ops only when synchronized.
struct SlowDevice final : Backend {
    int syncs = 0;
    int64_t finished_upto = 0, issued = 0;  // stopwatches [0, finished_upto) are done
    struct Watch final : Stopwatch {
        SlowDevice* dev;
        int64_t id = -1;
        explicit Watch(SlowDevice* d) : dev(d) {}
        void start() override {}
        void stop() override { id = dev->issued++; }
        bool done() override { return id < dev->finished_upto; }
        double seconds() override {
            REQUIRE(done());  // the profiler must not read a stopwatch the device has not passed
            return 0.25;
        }
    };
    std::string name() const override { return "slow"; }
    DType compute_dtype() const override { return DType::F32; }
    double total_memory() const override { return 0; }
    MemoryUsage memory_usage() const override { return {}; }
    void reset_peak() override {}
    Buffer alloc(DType, std::initializer_list<int64_t>) override { return {}; }
    void copy_from_host(const Tensor&, const void*) override {}
    void copy_to_host(void*, const Tensor&) override {}
    void synchronize() override {
        syncs++;
        finished_upto = issued;
    }
    std::unique_ptr<Stopwatch> make_stopwatch() override { return std::make_unique<Watch>(this); }
    void linear(const Tensor&, const Tensor&, const Tensor&, const Tensor*) override {}
    void linear_stacked(const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {}
    void layer_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, float) override {}
    void add(const Tensor&, const Tensor&) override {}
    void add_bias(const Tensor&, const Tensor&) override {}
    void add_bias_relu(const Tensor&, const Tensor&) override {}
    void add_residual(const Tensor&, const Tensor&, const Tensor&) override {}
    void add_residual_layer_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, float) override {}
    void embedding(const Tensor&, const Tensor&, const Tensor&, int64_t) override {}
    void gather_rows(const Tensor&, const Tensor&, const Tensor&) override {}
    void write_kv(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {}
    void attention(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const AttentionInputs&, int,
                   float) override {}
    void convert(const Tensor&, const Tensor&) override {}
    void argmax_rows(const Tensor&, const Tensor&, const Tensor&, int64_t) override {}
};

const OpStats& of(const OpProfile& p, OpKind k) { return p[size_t(k)]; }

}  // namespace

TEST_CASE("profiling backend: each op counted to its kind, timed by the device's stopwatches once done") {
    auto dev = std::make_unique<SlowDevice>();
    SlowDevice* d = dev.get();
    ProfilingBackend be(std::move(dev));
    Tensor t = make_tensor(nullptr, DType::F32, {1, 1});
    be.linear(t, t, t, nullptr);
    be.linear(t, t, t, nullptr);
    be.attention(t, t, t, t, AttentionInputs{}, 1, 1.0f);
    be.add_bias_relu(t, t);
    be.add_residual(t, t, t);
    be.add(t, t);
    be.convert(t, t);
    be.copy_to_host(nullptr, t);
    be.argmax_rows(t, t, t, 1);

    // Nothing is done yet: a failure report reads what is in hand, without waiting for the device.
    const OpProfile& early = be.profile(false);
    CHECK(d->syncs == 0);
    CHECK(of(early, OpKind::Linear).calls == 2);
    CHECK(of(early, OpKind::Linear).seconds == 0);

    const OpProfile& p = be.profile();  // waits, then reads every stopwatch
    CHECK(d->syncs == 1);
    CHECK(of(p, OpKind::Linear).calls == 2);
    CHECK(of(p, OpKind::Linear).seconds == 0.5);
    CHECK(of(p, OpKind::Attention).calls == 1);
    CHECK(of(p, OpKind::Elementwise).calls == 4);
    CHECK(of(p, OpKind::Elementwise).seconds == 1.0);
    CHECK(of(p, OpKind::Copy).calls == 1);
    CHECK(of(p, OpKind::Sample).calls == 1);
    CHECK(of(p, OpKind::LayerNorm).calls == 0);

    // A synchronize (the end of every step) reads what finished; the stopwatches are reused.
    be.layer_norm(t, t, t, t, 1e-5f);
    be.synchronize();
    CHECK(of(be.profile(false), OpKind::LayerNorm).seconds == 0.25);
    be.reset();
    CHECK(of(be.profile(), OpKind::Linear).calls == 0);
    CHECK(of(be.profile(), OpKind::LayerNorm).seconds == 0);

    // GEMMs count under their weight's role; a weight not named, or of another role, is "linear".
    float fc1_weight = 0, proj_weight = 0;
    be.name_weights({{&fc1_weight, "fc1"}, {&proj_weight, "project_in"}});
    be.linear(t, t, make_tensor(&fc1_weight, DType::F32, {1, 1}), nullptr);
    be.linear(t, t, make_tensor(&proj_weight, DType::F32, {1, 1}), nullptr);
    be.linear(t, t, t, nullptr);
    CHECK(of(be.profile(), OpKind::Fc1).calls == 1);
    CHECK(of(be.profile(), OpKind::Linear).calls == 2);

    CHECK_FALSE(be.supports_graphs());  // the engine then runs every step eagerly
    CHECK_THROWS(be.begin_capture());
    CHECK(std::string(op_kind_name(OpKind::WriteKv)) == "write_kv");
    CHECK(std::string(op_kind_name(OpKind::Sample)) == "sample");
}

TEST_CASE("profiling backend: a device far behind is waited for now and then, not one stopwatch per op held") {
    auto dev = std::make_unique<SlowDevice>();
    SlowDevice* d = dev.get();
    ProfilingBackend be(std::move(dev));
    Tensor t = make_tensor(nullptr, DType::F32, {1, 1});
    for (int i = 0; i < 4096; i++) be.add(t, t);
    CHECK(d->syncs == 0);
    be.add(t, t);  // the 4097th pending stopwatch
    CHECK(d->syncs == 1);
    CHECK(of(be.profile(false), OpKind::Elementwise).seconds == 4097 * 0.25);
    CHECK(of(be.profile(false), OpKind::Elementwise).host_seconds > 0);
}

TEST_CASE("profiling backend: the CPU backend's results pass through unchanged") {
    CpuBackend plain(1, 1e9);
    ProfilingBackend prof(std::make_unique<CpuBackend>(1, 1e9));
    const int n = 3, d = 8;
    std::vector<float> x(n * d), w(d * d), g(d, 1.5f), b(d, 0.25f);
    for (size_t i = 0; i < x.size(); i++) x[i] = float(i % 7) - 3.0f;
    for (size_t i = 0; i < w.size(); i++) w[i] = float(i % 5) * 0.1f - 0.2f;
    auto run = [&](Backend& be) {
        Buffer X = be.alloc(DType::F32, {n, d}), W = be.alloc(DType::F32, {d, d});
        Buffer G = be.alloc(DType::F32, {d}), B = be.alloc(DType::F32, {d});
        Buffer Y = be.alloc(DType::F32, {n, d}), Z = be.alloc(DType::F32, {n, d});
        be.copy_from_host(X, x.data());
        be.copy_from_host(W, w.data());
        be.copy_from_host(G, g.data());
        be.copy_from_host(B, b.data());
        const Tensor& bias = B;
        be.linear(Y, X, W, &bias);
        be.add_bias_relu(Y, B);
        be.layer_norm(Z, Y, G, B, 1e-5f);
        be.add_residual(Z, X, B);
        be.add_residual_layer_norm(Y, Z, X, B, G, B, 1e-5f);
        std::vector<float> out(n * d);
        be.copy_to_host(out.data(), Y);
        return out;
    };
    const std::vector<float> a = run(plain), p = run(prof);
    CHECK(std::memcmp(a.data(), p.data(), a.size() * sizeof(float)) == 0);
    const OpProfile& pr = prof.profile();
    CHECK(of(pr, OpKind::Copy).calls == 5);
    CHECK(of(pr, OpKind::Linear).calls == 1);
    CHECK(of(pr, OpKind::LayerNorm).calls == 2);  // the fused residual add counts as its norm
    CHECK(of(pr, OpKind::Elementwise).calls == 2);
    CHECK(of(pr, OpKind::Linear).seconds > 0);
}
