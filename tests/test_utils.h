// Small helpers shared by the op test files: index arithmetic on shapes,
// reading an array's logical (row-major) values through its strides, and
// capturing error messages.
#pragma once

#include <gtest/gtest.h>

#include <ember/ember.h>

#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace test_utils {

using ember::array;
using ember::Shape;

/// The source tree the tests read files from: EMBER_SOURCE_DIR from the environment when
/// set (a test bundle run on another machine, see scripts/gpu-check), else the build's.
inline std::string source_dir() {
  const char* env = std::getenv("EMBER_SOURCE_DIR");
#ifdef EMBER_SOURCE_DIR
  return env && *env ? std::string(env) : std::string(EMBER_SOURCE_DIR);
#else
  return env ? std::string(env) : std::string();
#endif
}

// ------------------------------------------------------------ shapes

/// Number of elements of shape `s`.
inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

/// Row-major multi-index of flat position `i` in shape `s`.
inline Shape unravel(int64_t i, const Shape& s) {
  Shape idx(s.size());
  for (int k = static_cast<int>(s.size()) - 1; k >= 0; --k) {
    idx[k] = static_cast<int32_t>(i % s[k]);
    i /= s[k];
  }
  return idx;
}

/// Row-major flat position of multi-index `idx` in shape `s`.
inline int64_t ravel(const Shape& idx, const Shape& s) {
  int64_t i = 0;
  for (size_t k = 0; k < s.size(); ++k) i = i * s[k] + idx[k];
  return i;
}

// ------------------------------------------------------------ values

/// Evaluates `a` (of dtype T) and returns its elements in row-major order (any layout).
template <class T>
std::vector<T> values(array a) {
  EXPECT_EQ(a.dtype(), ember::dtype_of<T>);
  a.eval();
  std::vector<T> out(a.size());
  const T* p = a.data<T>();
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t idx = static_cast<int64_t>(i), loc = 0;
    for (int d = static_cast<int>(a.ndim()) - 1; d >= 0; --d) {
      loc += (idx % a.shape()[d]) * a.strides()[d];
      idx /= a.shape()[d];
    }
    out[i] = p[loc];
  }
  return out;
}

/// The logical (row-major) values of any array as complex<double>, read element
/// by element through its strides and offset, independently of the copy kernels.
inline std::vector<std::complex<double>> cvalues(array x) {
  x.eval();
  std::vector<std::complex<double>> out(x.size());
  const char* base = x.size() ? static_cast<const char*>(x.raw_ptr()) : nullptr;
  for (size_t i = 0; i < x.size(); ++i) {
    Shape idx = unravel(static_cast<int64_t>(i), x.shape());
    int64_t loc = 0;
    for (size_t k = 0; k < idx.size(); ++k) loc += idx[k] * x.strides()[k];
    const char* p = base + loc * static_cast<int64_t>(x.itemsize());
    if (x.dtype() == ember::complex64) {
      ember::complex64_t c;
      std::memcpy(&c, p, sizeof(c));
      out[i] = std::complex<double>(c.real(), c.imag());
    } else {
      double d;
      ember::convert_elements(p, x.dtype(), &d, ember::float64, 1);
      out[i] = d;
    }
  }
  return out;
}

/// The logical (row-major) values of any array as doubles (complex: real part).
inline std::vector<double> values(array x) {
  std::vector<double> out;
  for (auto c : cvalues(std::move(x))) out.push_back(c.real());
  return out;
}

/// Elements of a real array as doubles, read in its own dtype (exact for every
/// real dtype but big 64-bit ints); a complex array is a test failure.
inline std::vector<double> doubles(const array& a) {
  return ember::dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    std::vector<double> out;
    if constexpr (std::is_same_v<T, ember::complex64_t>) {
      ADD_FAILURE() << "doubles() of a complex array";
    } else {
      for (T v : values<T>(a)) out.push_back(static_cast<double>(v));
    }
    return out;
  });
}

// ------------------------------------------------------------ errors

/// The message of the exception `f()` throws, or "<no exception>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

/// Expects `f()` to throw an E whose message contains `substring`.
template <class E, class F>
void expect_error(F&& f, const std::string& substring) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing: " << substring;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << substring;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type, message: " << e.what();
  }
}

}  // namespace test_utils
