// Everything one run reports, as rank 0 assembles it after gathering every rank's figures, and the writer
// of the HDF5 file (layout in README.md, "The HDF5 report"). Columnar: one 1-D dataset per field.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ls {

enum class StepPhase : int { Prefill = 0, Decode = 1, Mixed = 2 };

struct StepRecord {
    int64_t step = 0;
    StepPhase phase = StepPhase::Prefill;
    int64_t n_seqs = 0, n_tokens = 0, n_sample = 0;
    double seconds = 0;  // the whole step on the driver: plan, forward, sampling
};

struct RequestRecord {
    int64_t id = 0, prompt_len = 0, output_len = 0, n_preemptions = 0;
    double ttft_s = 0;
    std::vector<double> itl_s;
    std::string finish_reason;
};

// Named figures of one rank; every rank lists the same names in the same order.
using Figures = std::vector<std::pair<std::string, double>>;

struct RunReport {
    bool complete = true;
    std::string error;  // why it is incomplete
    std::vector<std::pair<std::string, std::string>> text_attrs;
    Figures number_attrs;
    std::vector<std::string> rank_fields;        // names of the per-rank figures
    std::vector<std::vector<double>> rank_rows;  // [world_size][fields]
    std::vector<std::string> hosts, devices;     // [world_size]
    std::vector<StepRecord> steps;
    std::vector<RequestRecord> requests;
    std::vector<Figures> plan;  // lockstep plan's prediction for this run's settings, one per pipeline stage
};

// Writes `path` through a temporary name and a rename, so a reader never sees half a file.
void write_run_report(const std::string& path, const RunReport& r);

}  // namespace ls
