// Evaluation of lazy arrays.
#pragma once

#include <vector>

#include "ember/array.h"

namespace ember {

/// Evaluates `outputs` and everything they depend on, blocking until done.
/// A kernel's exception is rethrown here, in the caller's thread.
void eval(std::vector<array> outputs);
/// Starts evaluating `outputs` without waiting; array::wait(), eval or a read blocks.
void async_eval(std::vector<array> outputs);

template <class... Arrays>
void eval(Arrays&&... a) {
  eval(std::vector<array>{std::forward<Arrays>(a)...});
}

}  // namespace ember
