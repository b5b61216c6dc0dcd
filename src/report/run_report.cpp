#include "report/run_report.h"

#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "report/h5.h"

namespace ls {

void write_run_report(const std::string& path, const RunReport& r) {
    const std::string tmp = path + ".tmp";
    {
        H5File f = H5File::create(tmp);
        f.attr("format", std::string("lockstep-report-1"));
        f.attr("complete", int64_t(r.complete ? 1 : 0));
        if (!r.complete) f.attr("error", r.error);
        for (const auto& [k, v] : r.text_attrs) f.attr(k, v);
        for (const auto& [k, v] : r.number_attrs) f.attr(k, v);

        f.group("/ranks");
        for (size_t c = 0; c < r.rank_fields.size(); c++) {
            std::vector<double> col;
            for (const auto& row : r.rank_rows) col.push_back(row[c]);
            f.write("/ranks/" + r.rank_fields[c], col);
        }
        f.write("/ranks/host", r.hosts);
        f.write("/ranks/device", r.devices);

        f.group("/steps");
        std::vector<int64_t> step, phase, n_seqs, n_tokens, n_sample;
        std::vector<double> seconds;
        for (const auto& s : r.steps) {
            step.push_back(s.step);
            phase.push_back(int64_t(s.phase));
            n_seqs.push_back(s.n_seqs);
            n_tokens.push_back(s.n_tokens);
            n_sample.push_back(s.n_sample);
            seconds.push_back(s.seconds);
        }
        f.write("/steps/step", step);
        f.write("/steps/phase", phase);
        f.write("/steps/n_seqs", n_seqs);
        f.write("/steps/n_tokens", n_tokens);
        f.write("/steps/n_sample", n_sample);
        f.write("/steps/seconds", seconds);

        f.group("/requests");
        std::vector<int64_t> id, prompt_len, output_len, preempt, itl_offsets = {0};
        std::vector<double> ttft, itl;
        std::vector<std::string> reason;
        for (const auto& q : r.requests) {
            id.push_back(q.id);
            prompt_len.push_back(q.prompt_len);
            output_len.push_back(q.output_len);
            preempt.push_back(q.n_preemptions);
            ttft.push_back(q.ttft_s);
            reason.push_back(q.finish_reason);
            itl.insert(itl.end(), q.itl_s.begin(), q.itl_s.end());
            itl_offsets.push_back(int64_t(itl.size()));
        }
        f.write("/requests/id", id);
        f.write("/requests/prompt_len", prompt_len);
        f.write("/requests/output_len", output_len);
        f.write("/requests/n_preemptions", preempt);
        f.write("/requests/ttft_s", ttft);
        f.write("/requests/finish_reason", reason);
        f.write("/requests/itl_s", itl);
        f.write("/requests/itl_offsets", itl_offsets);

        f.group("/plan");
        for (size_t i = 0; !r.plan.empty() && i < r.plan[0].size(); i++) {  // /plan/<field>[stage]
            std::vector<double> per_stage;
            for (const Figures& stage : r.plan) per_stage.push_back(stage[i].second);
            f.write("/plan/" + r.plan[0][i].first, per_stage);
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ENSURE(!ec, path, ": cannot rename ", tmp, ": ", ec.message());
}

}  // namespace ls
