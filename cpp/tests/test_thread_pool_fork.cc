// A pool used before fork() must keep working in the child: the child has none of the
// parent's worker threads, so it starts its own at its first parallel call (and runs every
// task exactly once), and destroying the pool there must not wait for the parent's threads.
// The parent's pool, and a grandchild's, must keep working too.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <thread>
#include <vector>

#include "pyedge/thread_pool.h"

namespace {

constexpr int kThreads = 3;
constexpr int kTasks = 64;

int thread_count() {  // threads of this process, as Linux lists them
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<int>(std::distance(begin(tasks), end(tasks)));
}

// Runs kTasks tasks and checks that each ran exactly once.
bool run_once_each(pyedge::ThreadPool& pool) {
  std::vector<std::atomic<int>> runs(kTasks);
  pool.run(kTasks, [](void* p, int t) { (*static_cast<std::vector<std::atomic<int>>*>(p))[t]++; },
           &runs);
  for (auto& r : runs)
    if (r.load() != 1) return false;
  return true;
}

// kThreads tasks that each wait for all the others: it returns once every worker runs tasks,
// which proves the workers are there, and that they are past their start-up: a fork() then
// cannot catch one inside malloc, which AddressSanitizer's allocator does not survive.
void meet_all_workers(pyedge::ThreadPool& pool) {
  std::atomic<int> arrived{0};
  pool.run(kThreads, [](void* p, int) {
    auto* arrived = static_cast<std::atomic<int>*>(p);
    arrived->fetch_add(1);
    while (arrived->load() < kThreads) std::this_thread::yield();
  }, &arrived);
}

// In a forked child: the pool restarts its workers, works, and is destroyed without hanging.
// Returns the child's exit code: 0 when all went well.
int child_checks(pyedge::ThreadPool* pool, int depth) {
  alarm(60);  // a hang becomes SIGALRM, which the parent reports
  const int before = thread_count();
  if (!run_once_each(*pool)) return 2;
  meet_all_workers(*pool);
  if (thread_count() != before + kThreads - 1) {
    std::fprintf(stderr, "child: %d threads after the first run, expected %d\n", thread_count(),
                 before + kThreads - 1);
    return 3;
  }
  if (depth == 1) {  // a grandchild inherits the child's restarted pool
    const pid_t pid = fork();
    if (pid == 0) _exit(child_checks(pool, 2));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 4;
    if (!run_once_each(*pool)) return 5;
  }
  delete pool;
  // join() returns when a thread has ended, a moment before Linux drops it from /proc.
  for (int wait = 0; wait < 1000 && thread_count() != before; ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (thread_count() != before) return 6;
  return 0;
}

}  // namespace

int main() {
  auto* pool = new pyedge::ThreadPool(kThreads);
  for (int i = 0; i < 100; ++i)
    if (!run_once_each(*pool)) return 1;
  meet_all_workers(*pool);
  int failures = 0;
  for (int round = 0; round < 20; ++round) {  // fork at various moments of the workers' loop
    run_once_each(*pool);
    const pid_t pid = fork();
    if (pid == 0) _exit(child_checks(pool, 1));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "round %d: child %s %d\n", round,
                   WIFEXITED(status) ? "exited with" : "killed by signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      ++failures;
    }
    if (!run_once_each(*pool)) {
      std::fprintf(stderr, "round %d: the parent's pool failed after fork\n", round);
      ++failures;
    }
  }
  delete pool;
  std::printf("thread pool across fork: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
