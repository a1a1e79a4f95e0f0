// TreeReaper: deletes, off the request path, directory trees that a removal
// has already moved into the work directory.
//
// Why: replacing an upper directory by a whiteout (rmdir of a merged
// directory, rename over one) swaps it out of the merged view in one rename;
// what is left is to delete it and the whiteouts it holds, one unlink each
// (about 1 ms for a directory of 100 deleted files). The caller need not wait
// for that: nothing in the merged view can reach the tree any more, and a
// crash before it is gone leaves it to the next mount's work-dir cleanup
// (PrepareWorkDir), as for any other leftover there.
#pragma once

#include <sched.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "fs/base/thread_annotations.h"

namespace strata::layer {

class TreeReaper {
 public:
  // `workfd` (WORKDIR/work) must outlive the reaper. Made on the thread whose
  // CPU set the reaper's thread will run on (the daemon's, before workers
  // pin themselves).
  explicit TreeReaper(int workfd);
  // Deletes whatever is still queued before returning (unmount).
  ~TreeReaper();
  TreeReaper(const TreeReaper&) = delete;
  TreeReaper& operator=(const TreeReaper&) = delete;

  // Queues `name` (an entry of the work directory) for deletion. The thread
  // starts on first use, so a daemon that forks after making the reaper
  // (fuse_daemonize) still has it.
  void Remove(std::string name) EXCLUDES(mu_);
  // Returns once everything queued so far is deleted.
  void Drain() EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);

  const int workfd_;
  cpu_set_t cpus_;  // the CPUs the process was allowed when the reaper was made
  std::mutex mu_;  // leaf; never held while a tree is deleted
  std::condition_variable wake_;  // queue_ grew, or stopping_
  std::condition_variable idle_;  // queue_ empty and nothing in progress
  std::deque<std::string> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;  // the thread is deleting a tree
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // started and joined under mu_'s protocol, see .cc
};

}  // namespace strata::layer
