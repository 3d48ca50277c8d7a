// Internal helpers shared by the op implementations (not part of the public API).
#pragma once

#include <stdexcept>
#include <string>

namespace ember::detail {

/// Axis `axis` of an array with `ndim` dimensions, negative values counting
/// from the end. Out of range throws std::out_of_range naming the op:
///   "[op] axis 3 is out of bounds for an array with 2 dimensions".
/// `noun` is the wording before "with" (the reductions say "array").
inline int normalize_axis(int axis, int ndim, const char* op, const char* noun = "an array") {
  int a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) {
    throw std::out_of_range(std::string("[") + op + "] axis " + std::to_string(axis) + " is out of bounds for " + noun +
                            " with " + std::to_string(ndim) + " dimensions");
  }
  return a;
}

}  // namespace ember::detail
