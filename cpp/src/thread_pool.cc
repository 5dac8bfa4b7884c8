#include "pyedge/thread_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pyedge {

ThreadPool::ThreadPool(int threads) {
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& error) {
    // The system refused a thread (limits, memory): stop the ones started, then report it.
    stop();
    throw std::runtime_error("could not start " + std::to_string(threads - 1) +
                             " worker threads: " + error.what());
  }
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::work_on(Job* job) {
  for (;;) {
    const int t = job->next.fetch_add(1);
    if (t >= job->tasks) return;
    job->fn(job->context, t);
    job->done.fetch_add(1);
  }
}

void ThreadPool::forget(Job* job) {
  auto it = std::find(jobs_.begin(), jobs_.end(), job);
  if (it != jobs_.end()) {
    jobs_.erase(it);
    queued_.store(static_cast<int>(jobs_.size()));
  }
}

// Waking a sleeping thread takes tens of microseconds on these machines, as long as a whole
// batch of the seed model; so after a job a worker polls briefly before it sleeps, and
// back-to-back predict calls find it awake. 50 us of polling per call is the price when idle.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

void ThreadPool::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (jobs_.empty() && !stopping_) {
      lock.unlock();
      const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      while (queued_.load(std::memory_order_relaxed) == 0 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      lock.lock();
    }
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job* job = jobs_.front();
    // Counted under the lock while the job is queued: once its caller has taken it off the
    // queue, no new worker can start on it, and the caller waits for users to drop to 0.
    job->users.fetch_add(1);
    lock.unlock();
    work_on(job);
    lock.lock();
    forget(job);  // every task is claimed: nobody else should pick it up
    job->users.fetch_sub(1, std::memory_order_release);  // the last access to *job
  }
}

void ThreadPool::run(int tasks, TaskFn fn, void* context) {
  Job job;
  job.fn = fn;
  job.context = context;
  job.tasks = tasks;
  if (!workers_.empty() && tasks > 1) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(&job);
      queued_.store(static_cast<int>(jobs_.size()));
    }
    wake_.notify_all();
  }
  work_on(&job);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    forget(&job);
  }
  // What is left is at most one task per worker, already running: poll for it. Sleeping on a
  // condition variable instead cost a futex wake-up, ~15 us, a third of a 1024-row batch.
  while (job.done.load(std::memory_order_acquire) != tasks ||
         job.users.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
}

}  // namespace pyedge
