#include "core/log.h"

#include <unistd.h>

#include <cstdio>

namespace ls {

int g_log_world_rank = 0;
namespace {
std::string g_worker = "Worker";
}

void set_worker_name(std::string name, int world_rank) {
    g_worker = std::move(name);
    g_log_world_rank = world_rank;
}

const std::string& worker_name() { return g_worker; }

void log_line(const std::string& line) {
    std::string s = line + "\n";
    (void)!write(STDERR_FILENO, s.data(), s.size());
}

std::string format_gib(double bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

std::string format_bytes(double bytes) {
    if (bytes >= 1024.0 * 1024.0 * 1024.0) return format_gib(bytes);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
    return buf;
}

std::string format_seconds(double s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", s);
    return buf;
}

}  // namespace ls
