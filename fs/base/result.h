// Result<T>: a value or an errno. Errors cross the FUSE C callbacks as plain
// errno values, so the whole core speaks errno rather than exceptions.
#pragma once

#include <cerrno>
#include <utility>
#include <variant>

namespace strata {

// An errno value wrapped so it cannot be confused with an ordinary int.
struct Errno {
  int value;
  constexpr explicit Errno(int v) : value(v) {}
  // The errno left by the last failed libc call.
  static Errno Last() { return Errno(errno); }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Errno e) : v_(e) {}                 // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return ok() ? 0 : std::get<1>(v_).value; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Errno> v_;
};

// Result of an operation that returns nothing but may fail: 0 or an errno.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Errno e) : err_(e.value) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }
  bool ok() const { return err_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return err_; }

 private:
  int err_ = 0;
};

// Propagate a failed Status/Result from the enclosing function.
#define STRATA_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    auto strata_status_ = (expr);                     \
    if (!strata_status_.ok())                         \
      return ::strata::Errno(strata_status_.error()); \
  } while (0)

}  // namespace strata
