// A persistent pool of worker threads that splits one call's rows across cores. Owned by a
// model (no global pool); several callers may share it at once, and each caller works on its
// own job too, so a pool of size 1 is simply the calling thread.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace pyedge {

class ThreadPool {
 public:
  using TaskFn = void (*)(void* context, int task);

  explicit ThreadPool(int threads);  // threads counts the caller: threads - 1 workers start
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(context, t) for t in [0, tasks) on the workers and the calling thread; returns when
  // all are done. A function pointer, not std::function: no allocation per call.
  void run(int tasks, TaskFn fn, void* context);

 private:
  struct Job {
    TaskFn fn;
    void* context;
    int tasks;
    std::atomic<int> next{0};
    std::atomic<int> done{0};
    std::atomic<int> users{0};  // workers holding a pointer to this job (the caller's stack)
  };
  void stop();  // ends and joins the workers
  void work_on(Job* job);
  void worker_loop();
  void forget(Job* job);  // mutex_ held

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> jobs_;
  std::atomic<int> queued_{0};  // jobs_.size(), readable without the lock while spinning
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace pyedge
