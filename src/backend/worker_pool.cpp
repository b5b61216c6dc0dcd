#include "backend/worker_pool.h"

#include <algorithm>

#include "core/check.h"

namespace ls {

WorkerPool::WorkerPool(int n_threads) : n_threads_(std::max(1, n_threads)) {}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(m_);
        stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : workers_) t.join();
}

void WorkerPool::work(int k) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(int)>* part;
        {
            std::unique_lock lock(m_);
            start_.wait(lock, [&] { return stop_ || (round_ != seen && k < n_parts_); });
            if (stop_) return;
            seen = round_;
            part = part_;
        }
        std::exception_ptr error;
        try {
            (*part)(k);
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lock(m_);
        if (error && !error_) error_ = error;
        if (--running_ == 0) done_.notify_one();
    }
}

void WorkerPool::run(int n_parts, const std::function<void(int)>& part) {
    ENSURE(n_parts >= 1 && n_parts <= n_threads_, "worker pool: ", n_parts, " parts for ", n_threads_, " threads");
    if (n_parts == 1) return part(0);
    {
        std::lock_guard lock(m_);
        while (int(workers_.size()) < n_parts - 1) {
            const int k = int(workers_.size()) + 1;
            workers_.emplace_back([this, k] { work(k); });
        }
        part_ = &part;
        n_parts_ = n_parts;
        running_ = n_parts - 1;
        error_ = nullptr;
        round_++;
    }
    start_.notify_all();
    std::exception_ptr error;
    try {
        part(0);
    } catch (...) {
        error = std::current_exception();
    }
    std::unique_lock lock(m_);
    done_.wait(lock, [&] { return running_ == 0; });
    if (!error) error = error_;
    if (error) std::rethrow_exception(error);
}

}  // namespace ls
