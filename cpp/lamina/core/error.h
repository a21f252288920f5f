// lamina's exception types and argument checks.
// Every failure reachable from Python throws one of these (or std::bad_alloc for allocation
// failure); bindings/errors.cpp maps them to RuntimeError, IndexError, TypeError, ValueError,
// NotImplementedError and MemoryError. Kernels never throw: ops check everything first.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lamina {

struct Error : std::runtime_error {  // RuntimeError
  using std::runtime_error::runtime_error;
};
struct IndexError : Error {
  using Error::Error;
};
struct TypeError : Error {
  using Error::Error;
};
struct ValueError : Error {
  using Error::Error;
};
struct NotImplementedError : Error {
  using Error::Error;
};
// MemoryError: an allocation the machine could not satisfy, with the bytes and the tensor asked for.
struct OutOfMemoryError : std::bad_alloc {
  explicit OutOfMemoryError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}
}  // namespace detail

}  // namespace lamina

#define LAMINA_CHECK_AS(kind, cond, ...)                            \
  do {                                                              \
    if (!(cond)) throw ::lamina::kind(::lamina::detail::cat(__VA_ARGS__)); \
  } while (0)
#define LAMINA_CHECK(cond, ...) LAMINA_CHECK_AS(Error, cond, __VA_ARGS__)
#define LAMINA_CHECK_INDEX(cond, ...) LAMINA_CHECK_AS(IndexError, cond, __VA_ARGS__)
#define LAMINA_CHECK_TYPE(cond, ...) LAMINA_CHECK_AS(TypeError, cond, __VA_ARGS__)
#define LAMINA_CHECK_VALUE(cond, ...) LAMINA_CHECK_AS(ValueError, cond, __VA_ARGS__)
#define LAMINA_FAIL(...) throw ::lamina::Error(::lamina::detail::cat(__VA_ARGS__))

#ifdef NDEBUG
#define LAMINA_DCHECK(cond) ((void)0)
#else
#define LAMINA_DCHECK(cond) LAMINA_CHECK(cond, "internal check failed: " #cond)
#endif
