// Ember: lazy arrays, NumPy-style ops, composable transforms; CPU and CUDA.
// The one header C++ users include.
#pragma once

#include "ember/allocator.h"
#include "ember/array.h"
#include "ember/compile.h"
#include "ember/conv.h"
#include "ember/device.h"
#include "ember/dtype.h"
#include "ember/einsum.h"
#include "ember/linalg.h"
#include "ember/io.h"
#include "ember/indexing.h"
#include "ember/fast.h"
#include "ember/quantized.h"
#include "ember/fft.h"
#include "ember/ops.h"
#include "ember/random.h"
#include "ember/transforms.h"
#include "ember/utils.h"
