// A persistent pool of worker threads that splits one call's rows across cores. Owned by a
// model (no global pool); several callers may share it at once, and each caller works on its
// own job too, so a pool of size 1 is simply the calling thread.
//
// fork() copies the pool's memory but none of its threads: a forked child leaves the copy
// alone (joining threads that do not exist, or locking a mutex one of them held, would hang)
// and starts workers of its own at its first call that needs them.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace pyedge {

// How many fork()s lie between this process and the start of the program. State guarded by a
// lock that another thread may have held at a fork is made anew when this number changes.
unsigned fork_generation();

class ThreadPool {
 public:
  using TaskFn = void (*)(void* context, int task);

  explicit ThreadPool(int threads);  // threads counts the caller: threads - 1 workers start
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

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
  // The worker threads of one process and the queue they share.
  struct Workers {
    explicit Workers(int threads);  // throws std::runtime_error if the system refuses a thread
    ~Workers();                     // ends and joins the threads
    void stop();
    void loop();
    void forget(Job* job);  // mutex held

    unsigned generation;  // forks this process had gone through when the threads started
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Job*> jobs;
    std::atomic<int> queued{0};  // jobs.size(), readable without the lock while spinning
    bool stopping = false;
    std::vector<std::thread> threads;
  };
  static void work_on(Job* job);
  Workers* workers();  // this process's workers: started anew in a forked child

  int threads_;
  std::atomic<Workers*> workers_;  // owned; a copy inherited through fork() is left alone
};

}  // namespace pyedge
