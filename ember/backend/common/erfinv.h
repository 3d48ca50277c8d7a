// The inverse error function for the CPU kernels and for the CUDA emulator's device math
// (CUDA has erfinv; C and C++ do not). Header-only: the emulator's host-compiled kernel
// programs include it too.
#pragma once

#include <cmath>
#include <limits>

namespace ember::math {

// erfinv by Giles' single-precision polynomial ("Approximating the erfinv
// function", GPU Computing Gems), refined with two Newton steps in double so
// float64 inputs get full precision too. In the tails (|x| > 0.5) Newton runs
// on erfc(y) = 1 - |x|: 1 - |x| is exact there and erfc keeps its relative
// accuracy, where erf(y) - x would lose all the digits that matter.
inline double erfinv(double x) {
  if (std::isnan(x)) return x;
  double ax = std::fabs(x);
  if (ax >= 1.0) return ax == 1.0 ? std::copysign(std::numeric_limits<double>::infinity(), x) : std::nan("");
  double w = -std::log((1.0 - ax) * (1.0 + ax));
  double p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double y = p * ax;
  // Newton on erf(y) - |x|: the derivative is 2/sqrt(pi) exp(-y^2).
  for (int i = 0; i < 2; ++i) {
    double err = ax > 0.5 ? (1.0 - ax) - std::erfc(y) : std::erf(y) - ax;
    y -= err / (1.1283791670955126 * std::exp(-y * y));
  }
  return std::copysign(y, x);
}

}  // namespace ember::math
