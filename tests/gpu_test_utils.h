// Shared by the GPU test files: they run where a GPU (or the emulated build's stand-in) is
// present and skip, saying why, elsewhere.
#pragma once

#include <gtest/gtest.h>

#include "ember/backend/gpu.h"

/// Skips the current test when no GPU is usable.
#define REQUIRE_GPU()                                   \
  if (!::ember::gpu::is_available())                    \
    GTEST_SKIP() << ::ember::gpu::unavailable_reason(); \
  else                                                  \
    (void)0
