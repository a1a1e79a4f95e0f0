// A progress bar on stderr, drawn only when stderr is a terminal and only once
// the work has taken more than a moment (so quick commands stay silent).
// Add() may be called from several threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace strata::tools {

class Progress {
 public:
  // `total` is in `unit`s ("bytes" are shown as MiB); 0 when unknown.
  Progress(std::string label, uint64_t total, bool bytes);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(uint64_t n);
  void Set(uint64_t done);
  void SetTotal(uint64_t total) { total_.store(total); }
  // Clears the bar line (it never stays in the user's scrollback).
  void Finish();

  // Can be forced off (--no-progress) or on (tests).
  static void SetEnabled(bool enabled);

 private:
  void MaybeDraw();

  const std::string label_;
  const bool bytes_;
  const bool enabled_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_{0};
  const std::chrono::steady_clock::time_point start_;
  std::mutex draw_mu_;  // one drawer at a time; others skip
  std::chrono::steady_clock::time_point last_draw_;  // GUARDED_BY(draw_mu_)
  bool drawn_ = false;                               // GUARDED_BY(draw_mu_)
};

}  // namespace strata::tools
