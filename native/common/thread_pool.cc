#include "common/thread_pool.h"

#include "common/env.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <system_error>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nativax {
namespace {

thread_local bool tl_in_worker = false;

struct Job {
  Job(int64_t n, const std::function<void(int64_t)>* fn) : n(n), fn(fn) {}
  const int64_t n;
  const std::function<void(int64_t)>* fn;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;
  std::condition_variable cv;

  void run() {
    int64_t i;
    while ((i = next.fetch_add(1)) < n) {
      (*fn)(i);
      if (done.fetch_add(1) + 1 == n) {
        std::lock_guard<std::mutex> lock(mu);
        cv.notify_all();
      }
    }
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return done.load() == n; });
  }
};

class Pool {
 public:
  explicit Pool(int workers) {
    // A thread the process may not create (RLIMIT_NPROC, cgroup pids.max, memory for stacks) is not an error:
    // run with the workers that did start. Letting std::system_error escape would destroy the joinable
    // threads already made, which calls std::terminate and aborts the process.
    for (int w = 0; w < workers; ++w) {
      try {
        threads_.emplace_back([this] { loop(); });
      } catch (const std::system_error&) {
        break;
      }
    }
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return static_cast<int>(threads_.size()); }
  void submit(std::shared_ptr<Job> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    tl_in_worker = true;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_ && queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->run();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

int configured_threads() {
  unsigned hw_raw = std::thread::hardware_concurrency();
  const int64_t hw = hw_raw == 0 ? 1 : static_cast<int64_t>(hw_raw);
  // NATIVAX_NUM_THREADS (>= 1), clamped to kMaxThreadsPerCore per hardware thread: more only oversubscribes.
  // Python warns about unusable or clamped values (nativax._env); here they fall back / clamp silently.
  int64_t v = env_int("NATIVAX_NUM_THREADS", 0);
  if (v < 1) return static_cast<int>(hw);
  return static_cast<int>(std::min<int64_t>(v, kMaxThreadsPerCore * hw));
}

Pool& pool() {
  // Function-local static: initialisation is thread-safe; workers = threads - 1 (the caller works too).
  static Pool* p = new Pool(std::max(0, configured_threads() - 1));
  return *p;
}

}  // namespace

int pool_concurrency() { return pool().workers() + 1; }

void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (n == 1 || tl_in_worker || pool().workers() == 0) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>(n, &fn);
  int64_t helpers = std::min<int64_t>(pool().workers(), n - 1);
  for (int64_t h = 0; h < helpers; ++h) pool().submit(job);
  job->run();
  job->wait();
}

}  // namespace nativax
