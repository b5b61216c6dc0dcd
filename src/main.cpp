// lockstep: one MPI program; every rank runs this. `mpirun -np N lockstep generate --model DIR -tp N ...`
#include <mpi.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "backend/backend.h"
#include "backend/openblas_env.h"
#include "config/options.h"
#include "core/check.h"
#include "core/log.h"
#include "engine/bench.h"
#include "engine/generate.h"
#include "report/report_command.h"
#include "tools/compare_command.h"
#include "tools/make_model.h"
#include "tools/plan_command.h"

namespace {

const char* kUsage =
    "usage: mpirun -np N lockstep generate --model DIR [-tp N] [--prompt TEXT ...] [flags]   (--help for flags)\n"
    "       mpirun -np N lockstep bench --model DIR [-tp N] --input-len 128 --output-len 128 --num-prompts 32\n"
    "       lockstep report RUN.h5 [OTHER_RUN.h5]\n"
    "       lockstep make-model --out DIR (--preset opt-125m | --hidden H --layers L --heads A ...)\n"
    "       lockstep plan --model DIR-or-config.json -tp N --device-memory 24GB [--dtype float16] [--json]\n"
    "       lockstep compare A.json B.json [--near-tie 1e-3] [--logprob-tol 1e-2] [--json]   (two --output-json runs)\n"
    "       lockstep --version\n";

// What a bug report needs first: the build, and where `--device auto` would run here.
int print_version() {
    std::printf("lockstep %s (%s)\n", ls::lockstep_version(), ls::lockstep_git_commit());
    std::string why;
    const int n = ls::cuda_device_count(&why);
    if (n > 0)
        std::printf("CUDA: %d device(s) visible: --device auto runs on cuda\n", n);
    else
        std::printf("CUDA: no device (%s): --device auto runs on cpu\n", why.c_str());
    return 0;
}

// OpenBLAS reads its settings when the library loads, before main(): set them, then start this process again,
// once (the new process finds them set).
void set_openblas_env_and_restart(char** argv) {
    int local = 0;
    for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE"})
        if (const char* v = std::getenv(var); v && !local) local = std::atoi(v);
    if (ls::set_openblas_env(local)) execv("/proc/self/exe", argv);  // returns only on failure: carry on as is
}

int run_mpi(int argc, char** argv) {  // generate and bench
    set_openblas_env_and_restart(argv);
    MPI_Init(&argc, &argv);
    ls::catch_sigterm();
    int world_rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    const ls::ParsedOptions parsed = ls::parse_run_options(argc, argv);
    if (parsed.exit_code >= 0) {
        // Every rank parsed the same argv and reached the same verdict: rank 0 says it, all leave alike.
        if (world_rank == 0) std::fprintf(parsed.exit_code ? stderr : stdout, "%s\n", parsed.message.c_str());
        MPI_Finalize();
        return parsed.exit_code;
    }
    int code = 0;
    try {
        code = parsed.run.bench ? ls::run_bench(parsed.run) : ls::run_generate(parsed.run);
    } catch (const std::exception& e) {
        ls::fail(e.what());  // MPI_Abort: no rank is left waiting for this one
    }
    MPI_Finalize();
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "generate" || cmd == "bench") return run_mpi(argc, argv);
    if (cmd == "make-model") return ls::make_model_main(argc - 1, argv + 1);
    if (cmd == "plan") return ls::plan_main(argc - 1, argv + 1);
    if (cmd == "report") return ls::report_main(argc - 1, argv + 1);
    if (cmd == "compare") return ls::compare_main(argc - 1, argv + 1);
    if (cmd == "--version" || cmd == "version") return print_version();
    if (cmd == "--help" || cmd == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (cmd.empty())
        std::fprintf(stderr, "error: no command\n%s", kUsage);
    else
        std::fprintf(stderr, "error: unknown command \"%s\"\n%s", cmd.c_str(), kUsage);
    return 2;
}
