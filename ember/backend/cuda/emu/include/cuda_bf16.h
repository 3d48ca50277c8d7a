// Emulated build: the bfloat16 type is ember::bfloat16_t (see cuda_runtime.h here).
#pragma once
#include "cuda_runtime.h"
