#include "pyedge/thread_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>

#ifndef _WIN32
#include <pthread.h>
#endif

namespace pyedge {
namespace {
std::atomic<unsigned> forks_seen{0};
}  // namespace

unsigned fork_generation() {
#ifndef _WIN32
  // Registered once, before the first pool starts a thread. (Were it refused, for want of
  // memory, pools would simply not notice forks, as before this counter existed.)
  static const int registered = pthread_atfork(nullptr, nullptr, [] { forks_seen.fetch_add(1); });
  (void)registered;
#endif
  return forks_seen.load(std::memory_order_relaxed);
}

ThreadPool::Workers::Workers(int threads) : generation(fork_generation()) {
  try {
    for (int i = 1; i < threads; ++i) this->threads.emplace_back([this] { loop(); });
  } catch (const std::system_error& error) {
    // The system refused a thread (limits, memory): stop the ones started, then report it.
    stop();
    throw std::runtime_error("could not start " + std::to_string(threads - 1) +
                             " worker threads: " + error.what());
  }
}

ThreadPool::Workers::~Workers() { stop(); }

void ThreadPool::Workers::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread& t : threads) t.join();
  threads.clear();
}

void ThreadPool::Workers::forget(Job* job) {
  auto it = std::find(jobs.begin(), jobs.end(), job);
  if (it != jobs.end()) {
    jobs.erase(it);
    queued.store(static_cast<int>(jobs.size()));
  }
}

// Waking a sleeping thread takes tens of microseconds on these machines, as long as a whole
// batch of the seed model; so after a job a worker polls briefly before it sleeps, and
// back-to-back predict calls find it awake. 50 us of polling per call is the price when idle.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

void ThreadPool::Workers::loop() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    if (jobs.empty() && !stopping) {
      lock.unlock();
      const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      while (queued.load(std::memory_order_relaxed) == 0 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      lock.lock();
    }
    wake.wait(lock, [this] { return stopping || !jobs.empty(); });
    if (stopping) return;
    Job* job = jobs.front();
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

ThreadPool::ThreadPool(int threads)
    : threads_(std::max(threads, 1)), workers_(new Workers(threads)) {}

ThreadPool::~ThreadPool() {
  Workers* w = workers_.load();
  // Workers inherited through fork() never ran here: their threads are gone, and their mutex
  // and condition variable may stay for ever as those threads left them (locked, waited on),
  // so stopping them could hang. The copy is left as it is (a few hundred bytes).
  if (w->generation == fork_generation()) delete w;
}

ThreadPool::Workers* ThreadPool::workers() {
  Workers* w = workers_.load(std::memory_order_acquire);
  const unsigned generation = fork_generation();
  while (w->generation != generation) {
    // The first parallel call in a forked child. Callers arriving together may each start a
    // set of workers: one set is installed, the others are stopped when `fresh` goes.
    auto fresh = std::make_unique<Workers>(threads_);
    if (workers_.compare_exchange_strong(w, fresh.get(), std::memory_order_acq_rel)) {
      return fresh.release();  // the inherited copy is abandoned, as in the destructor
    }
  }
  return w;
}

void ThreadPool::work_on(Job* job) {
  for (;;) {
    const int t = job->next.fetch_add(1);
    if (t >= job->tasks) return;
    job->fn(job->context, t);
    job->done.fetch_add(1);
  }
}

void ThreadPool::run(int tasks, TaskFn fn, void* context) {
  Job job;
  job.fn = fn;
  job.context = context;
  job.tasks = tasks;
  if (threads_ == 1 || tasks <= 1) {
    work_on(&job);
    return;
  }
  Workers* w = workers();
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->jobs.push_back(&job);
    w->queued.store(static_cast<int>(w->jobs.size()));
  }
  w->wake.notify_all();
  work_on(&job);
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->forget(&job);
  }
  // What is left is at most one task per worker, already running: poll for it. Sleeping on a
  // condition variable instead cost a futex wake-up, ~15 us, a third of a 1024-row batch.
  while (job.done.load(std::memory_order_acquire) != tasks ||
         job.users.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
}

}  // namespace pyedge
