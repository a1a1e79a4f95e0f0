// ScopeGuard: run a cleanup at scope exit unless dismissed.
#pragma once

#include <utility>

namespace strata {

template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) : f_(std::move(f)) {}
  ~ScopeGuard() {
    if (active_) f_();
  }
  void Dismiss() { active_ = false; }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  F f_;
  bool active_ = true;
};

}  // namespace strata
