#include "engine/output.h"

#include <cstdio>
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
        ENSURE(f.good(), path, ": cannot open for writing");
        f << text;
        ENSURE(f.good(), path, ": write failed");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ENSURE(!ec, path, ": cannot rename ", tmp, ": ", ec.message());
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
