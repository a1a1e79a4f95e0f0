#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

namespace strata::tools {

namespace {

// -1: decide from isatty(2); 0/1 forced.
std::atomic<int> g_forced{-1};

constexpr auto kDelayBeforeFirstDraw = std::chrono::milliseconds(700);
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 30;

bool ShouldDraw() {
  int forced = g_forced.load();
  if (forced >= 0) return forced == 1;
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace

void Progress::SetEnabled(bool enabled) { g_forced.store(enabled ? 1 : 0); }

Progress::Progress(std::string label, uint64_t total, bool bytes)
    : label_(std::move(label)),
      bytes_(bytes),
      enabled_(ShouldDraw()),
      total_(total),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { Finish(); }

void Progress::Add(uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (enabled_) MaybeDraw();
}

void Progress::Set(uint64_t done) {
  done_.store(done, std::memory_order_relaxed);
  if (enabled_) MaybeDraw();
}

void Progress::MaybeDraw() {
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < kDelayBeforeFirstDraw) return;
  std::unique_lock lock(draw_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  drawn_ = true;
  uint64_t done = done_.load(std::memory_order_relaxed);
  uint64_t total = total_.load();
  double secs = std::chrono::duration<double>(now - start_).count();
  char amount[96];
  if (bytes_) {
    double mib = static_cast<double>(done) / (1 << 20);
    if (total)
      std::snprintf(amount, sizeof amount, "%.0f/%.0f MiB %.0f MiB/s", mib,
                    static_cast<double>(total) / (1 << 20), mib / secs);
    else
      std::snprintf(amount, sizeof amount, "%.0f MiB %.0f MiB/s", mib, mib / secs);
  } else {
    if (total)
      std::snprintf(amount, sizeof amount, "%llu/%llu", static_cast<unsigned long long>(done),
                    static_cast<unsigned long long>(total));
    else
      std::snprintf(amount, sizeof amount, "%llu", static_cast<unsigned long long>(done));
  }
  std::string bar;
  if (total) {
    int filled = static_cast<int>(kBarWidth * std::min(1.0, static_cast<double>(done) / total));
    bar = "[" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "] ";
  }
  std::fprintf(stderr, "\r\033[K%s %s%s", label_.c_str(), bar.c_str(), amount);
  std::fflush(stderr);
}

void Progress::Finish() {
  std::lock_guard lock(draw_mu_);
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace strata::tools
