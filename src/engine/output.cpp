#include "engine/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"

namespace ls {

std::string requests_to_json(const std::vector<Sequence>& requests) {
    using nlohmann::json;
    json out = json::array();
    for (const auto& s : requests) {
        json r = {{"prompt", s.prompt},
                  {"prompt_token_ids", s.prompt_ids},
                  {"token_ids", s.output_ids},
                  {"text", s.text},
                  {"finish_reason", s.finish_reason}};
        if (s.sampling.n_logprobs > 0) {
            json lp = json::array();
            for (const auto& pos : s.logprobs) {
                json top = json::array();
                for (const auto& t : pos) top.push_back({{"id", t.id}, {"logprob", t.logprob}});
                lp.push_back(top);
            }
            r["logprobs"] = lp;
        } else {
            r["logprobs"] = nullptr;
        }
        if (!s.error.empty()) r["error"] = s.error;
        out.push_back(r);
    }
    // Invalid UTF-8 cannot occur (decode replaces it), but never let a dump throw mid-run.
    return json{{"requests", out}}.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

void write_text_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary);
        ENSURE(f.good(), path, ": cannot open for writing: ", std::strerror(errno));
        f << text;
        ENSURE(f.good(), path, ": write failed");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ENSURE(!ec, path, ": cannot rename ", tmp, ": ", ec.message());
}

void check_writable(const std::string& flag, const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    std::error_code ec;
    ENSURE(!fs::is_directory(p, ec), flag, " ", path, ": is a folder; expected a file name");
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    ENSURE(fs::is_directory(dir, ec), flag, " ", path, ": the folder ", dir.string(), " does not exist");
    ENSURE(access(dir.c_str(), W_OK) == 0, flag, " ", path, ": cannot write in ", dir.string(), ": ",
           std::strerror(errno));
}

void print_generations(const std::vector<Sequence>& requests) {
    for (const auto& s : requests) {
        if (!s.error.empty()) continue;
        std::string line = "Prompt: " + nlohmann::json(s.prompt).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                           ", Generated text: " +
                           nlohmann::json(s.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fflush(stdout);
}

}  // namespace ls
