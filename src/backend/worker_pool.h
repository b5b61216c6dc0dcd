// Threads for the CPU backend's own loops (OpenBLAS keeps its own for the GEMMs). They start on the first call
// that needs them and sleep between calls, so an op does not pay for starting threads each time.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ls {

class WorkerPool {
public:
    explicit WorkerPool(int n_threads);  // the caller's thread counts as one
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    int size() const { return n_threads_; }
    // part(k) for every k in [0, n_parts), n_parts <= size(): part 0 on the caller's thread, the others on the
    // workers. Returns when all are done; rethrows the first exception a part threw. One call at a time.
    void run(int n_parts, const std::function<void(int)>& part);

private:
    void work(int k);

    int n_threads_;
    std::mutex m_;
    std::condition_variable start_, done_;
    const std::function<void(int)>* part_ = nullptr;
    int n_parts_ = 0, running_ = 0;
    uint64_t round_ = 0;  // bumped by each run(): a worker waits for the next one
    bool stop_ = false;
    std::exception_ptr error_;
    std::vector<std::thread> workers_;  // workers_[k - 1] runs part k
};

}  // namespace ls
