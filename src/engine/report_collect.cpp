#include "engine/report_collect.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comm/control_channel.h"
#include "core/log.h"
#include "engine/output.h"
#include "model/memory_plan.h"
#include "parallel/group_communicator.h"

namespace ls {

namespace {

// `finished`: the run ended normally, so the device may be waited for (not in a failure report).
Figures rank_figures(const Runtime& rt, const EngineStats& st, bool finished) {
    const ProcessGrid& g = rt.grid;
    const WeightBytes wb = rt.model->weight_bytes();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    Figures f = {{"world_rank", g.world_rank},
                 {"tp_rank", g.tp_rank},
                 {"pp_rank", g.pp_rank},
                 {"local_rank", g.local_rank},
                 {"layer_begin", rt.stage.layers.begin},
                 {"layer_end", rt.stage.layers.end},
                 {"weight_bytes_sharded", double(wb.sharded)},
                 {"weight_bytes_replicated", double(wb.replicated)},
                 {"total_memory", rt.sizing.total_memory},
                 {"activation_peak", double(rt.sizing.activation_peak)},
                 {"kv_blocks", rt.sizing.n_blocks},
                 {"kv_blocks_local", double(rt.sizing.n_blocks_local)},
                 {"kv_bytes", double(rt.kv.bytes())},
                 {"kv_bytes_per_token", double(rt.sizing.bytes_per_token)},
                 {"backend_allocated_bytes", double(rt.be->memory_usage().allocated)},
                 {"device_used_bytes", double(rt.device_used_at_start)},
                 {"graph_memory_bytes", double(rt.graph_memory)},
                 {"rss_peak_bytes", double(ru.ru_maxrss) * 1024.0},
                 {"load_seconds", rt.load_seconds},
                 {"steps", double(st.n_steps)},
                 {"tokens", double(st.n_tokens)},
                 {"loop_seconds", st.seconds},
                 {"forward_seconds", st.forward_seconds},
                 {"plan_wait_seconds", st.plan_wait_seconds}};
    double comm = 0;
    for (int k = 0; k < int(CollectiveKind::kCount); k++) {
        // TP collectives, plus the PP group's stage-to-stage sends (send_recv).
        CollectiveStats c = rt.tp->stats(CollectiveKind(k));
        const CollectiveStats& p = rt.pp->stats(CollectiveKind(k));
        c.calls += p.calls;
        c.bytes += p.bytes;
        c.seconds += p.seconds;
        const std::string n = collective_name(CollectiveKind(k));
        f.push_back({n + "_calls", double(c.calls)});
        f.push_back({n + "_bytes", double(c.bytes)});
        f.push_back({n + "_seconds", c.seconds});
        comm += c.seconds;
    }
    f.push_back({"comm_seconds", comm});
    f.push_back({"compute_seconds", st.forward_seconds - comm});
    if (rt.profile) {
        const OpProfile& p = rt.profile->profile(finished);
        for (int k = 0; k < int(OpKind::kCount); k++) {
            f.push_back({cat("op_", op_kind_name(OpKind(k)), "_calls"), double(p[size_t(k)].calls)});
            f.push_back({cat("op_", op_kind_name(OpKind(k)), "_seconds"), p[size_t(k)].seconds});
            f.push_back({cat("op_", op_kind_name(OpKind(k)), "_host_seconds"), p[size_t(k)].host_seconds});
        }
    }
    return f;
}

std::vector<RequestRecord> request_records(const std::vector<Sequence>& reqs) {
    std::vector<RequestRecord> out;
    for (const auto& s : reqs) {
        RequestRecord r{s.id, int64_t(s.prompt_ids.size()), int64_t(s.output_ids.size()), s.n_preemptions, 0, {},
                        s.finish_reason.empty() ? "unfinished" : s.finish_reason};
        if (!s.token_times.empty()) r.ttft_s = s.token_times.front() - s.arrival;
        for (size_t i = 1; i < s.token_times.size(); i++) r.itl_s.push_back(s.token_times[i] - s.token_times[i - 1]);
        out.push_back(std::move(r));
    }
    return out;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string report_path(const RunOptions& o, const Runtime& rt) {
    if (!o.report.empty()) return o.report;
    std::string model = std::filesystem::path(o.model).filename().string();
    if (model.empty()) model = std::filesystem::path(o.model).parent_path().filename().string();
    std::string stamp = rt.start_time;
    for (char& c : stamp)
        if (c == ':') c = '-';
    std::filesystem::create_directories("results");
    return cat("results/", model, "-tp", rt.grid.tp_size, "-pp", rt.grid.pp_size, "-", stamp, ".h5");
}

// The driver's part of the report: run attributes, steps, requests.
RunReport driver_report(const RunOptions& o, const Runtime& rt, const EngineStats& st,
                        const std::vector<Sequence>* requests) {
    RunReport r;
    r.text_attrs = {{"model", o.model},
                    {"model_config", read_text(rt.cfg.source)},
                    {"dtype", dtype_torch_name(rt.be->compute_dtype())},  // activations, KV cache, all-reduces
                    {"weight_dtype", dtype_torch_name(rt.be->weight_dtype())},
                    {"backend", rt.be->name()},
                    {"device", rt.device},
                    {"collectives", rt.comm == "nccl" ? nccl_version() : std::string("MPI")},
                    {"command_line", o.command_line},
                    {"version", lockstep_version()},
                    {"git_commit", lockstep_git_commit()},
                    {"hosts", rt.hosts},
                    {"start_time", rt.start_time},
                    {"end_time", utc_now()}};
    r.number_attrs = {{"tensor_parallel_size", rt.grid.tp_size},
                      {"pipeline_parallel_size", rt.grid.pp_size},
                      {"world_size", rt.grid.world_size},
                      {"n_layers", rt.cfg.n_layers},
                      {"hidden_size", rt.cfg.d_model},
                      {"word_embed_proj_dim", rt.cfg.d_embed},
                      {"block_size", rt.kv.block_size},
                      {"max_model_len", rt.max_model_len},
                      {"max_num_batched_tokens", rt.max_num_batched_tokens},
                      {"max_num_seqs", o.max_num_seqs},
                      {"gpu_memory_utilization", o.gpu_memory_utilization}};
    r.steps = st.steps;
    if (requests) r.requests = request_records(*requests);
    {  // lockstep plan's prediction for these settings, next to what was measured
        MemoryPlanInput in;
        in.cfg = rt.cfg;
        in.tp = rt.grid.tp_size;
        in.dtype_bytes = int(dtype_size(rt.be->compute_dtype()));
        in.weight_dtype_bytes = int(dtype_size(rt.be->weight_dtype()));
        in.device_memory = rt.sizing.total_memory;
        in.gpu_memory_utilization = o.gpu_memory_utilization;
        in.block_size = rt.kv.block_size;
        in.max_model_len = rt.max_model_len;
        in.max_num_batched_tokens = rt.max_num_batched_tokens;
        in.max_num_seqs = o.max_num_seqs;
        in.pp = rt.grid.pp_size;
        in.layer_partition = o.pipeline_layer_partition;
        for (const MemoryPlan& stage : make_stage_plans(in)) r.plan.push_back(memory_plan_fields(stage));
    }
    return r;
}

}  // namespace

void check_report_path(const RunOptions& o) {
    if (o.report == "none") return;
    if (!o.report.empty()) return check_writable("--report", o.report);
    std::error_code ec;
    std::filesystem::create_directories("results", ec);
    ENSURE(!ec, "cannot make results/ for the report (", ec.message(), "); pass --report PATH or --report none");
    ENSURE(access("results", W_OK) == 0, "cannot write the report in results/ (", std::strerror(errno),
           "); pass --report PATH or --report none");
}

std::string write_report(const RunOptions& o, const Runtime& rt, const EngineStats& st,
                         const std::vector<Sequence>* requests) {
    if (o.report == "none") return "";
    const ProcessGrid& g = rt.grid;
    const Figures mine = rank_figures(rt, st, true);
    std::vector<double> values;
    for (const auto& [k, v] : mine) values.push_back(v);
    std::vector<double> all(values.size() * size_t(g.world_size));
    MPI_CALL(MPI_Gather(values.data(), int(values.size()), MPI_DOUBLE, all.data(), int(values.size()), MPI_DOUBLE, 0,
                        g.world_comm));
    std::vector<std::string> hosts = gather_strings(g.host, g.world_comm, 0);
    std::vector<std::string> devices = gather_strings(rt.be->name(), g.world_comm, 0);
    if (!g.is_driver()) return "";

    RunReport r = driver_report(o, rt, st, requests);
    for (const auto& [k, v] : mine) r.rank_fields.push_back(k);
    for (int w = 0; w < g.world_size; w++)
        r.rank_rows.emplace_back(all.begin() + long(size_t(w) * values.size()),
                                 all.begin() + long(size_t(w + 1) * values.size()));
    r.hosts = std::move(hosts);
    r.devices = std::move(devices);
    const std::string path = report_path(o, rt);
    write_run_report(path, r);
    log0("report written to ", path);
    return path;
}

std::unique_ptr<AbortHookGuard> arm_incomplete_report(const RunOptions& o, const Runtime& rt, const EngineStats& st,
                                                      const std::vector<Sequence>* requests) {
    if (o.report == "none" || !rt.grid.is_driver()) return nullptr;
    set_abort_hook([&o, &rt, &st, requests](const std::string& error) {
        RunReport r = driver_report(o, rt, st, requests);
        r.complete = false;
        r.error = error;
        std::vector<double> row;  // the driver's own figures only: the other ranks cannot be asked now
        for (const auto& [k, v] : rank_figures(rt, st, false)) {
            r.rank_fields.push_back(k);
            row.push_back(v);
        }
        r.rank_rows.push_back(row);
        r.hosts.push_back(rt.grid.host);
        r.devices.push_back(rt.be->name());
        const std::string path = report_path(o, rt);
        write_run_report(path, r);
        log_line(cat("lockstep: incomplete report written to ", path));
    });
    return std::make_unique<AbortHookGuard>();
}

}  // namespace ls
