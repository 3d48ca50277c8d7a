// Emulated build: the half type is ember::float16_t (see cuda_runtime.h here).
#pragma once
#include "cuda_runtime.h"
