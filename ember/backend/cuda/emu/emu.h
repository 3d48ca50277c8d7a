// A CPU emulation of the CUDA execution model, for testing kernels on machines
// without a GPU. Kernel source written in plain CUDA C++ compiles with the host
// compiler against this header (and without cuda_runtime.h):
//
//   - a launch runs the grid block by block; each block's threads are
//     cooperative coroutines on the calling OS thread (a register-only stack
//     switch on x86-64 Linux, ucontext elsewhere);
//   - __syncthreads() parks a thread until every live thread of its block has
//     arrived; a thread that exits while others wait at a barrier is reported
//     (barrier divergence, undefined behaviour on hardware);
//   - warp intrinsics (__shfl_*_sync, __ballot_sync, __any_sync, __all_sync,
//     __syncwarp) exchange values among the 32 lanes of a warp, which wait for
//     each other as on hardware;
//   - __shared__ variables are one instance per kernel (`static`), reused by
//     each block in turn (blocks never run concurrently); dynamic shared
//     memory comes from EMBER_DYNAMIC_SHARED;
//   - atomics are plain read-modify-writes (no thread is preempted inside one);
//   - between barriers the threads of a block run in an order shuffled by a
//     seed, so a missing barrier or a read of shared memory another thread has
//     not yet written gives results that change with the seed.
//
// Not emulated: tensor-core MMA (mma.sync, wgmma), TMA/bulk copies, cluster
// and grid-wide synchronization, texture memory, inline PTX.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/half.h"

#if defined(__x86_64__) && defined(__linux__)
// Saves the callee-saved registers on the current stack, stores the stack pointer in
// *from_sp and continues on to_sp: a coroutine switch without swapcontext's signal-mask
// system calls. COMDAT, so every translation unit may carry it.
extern "C" void ember_emu_switch(void** from_sp, void* to_sp);
asm(R"(
  .pushsection .text.ember_emu_switch,"axG",@progbits,ember_emu_switch,comdat
  .weak ember_emu_switch
  .type ember_emu_switch,@function
ember_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ember_emu_switch,.-ember_emu_switch
  .popsection
)");
#define EMBER_EMU_FAST_SWITCH 1
#endif

namespace ember::emu {

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

/// Thrown when a launch hits undefined behaviour the emulator can see.
class emulation_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

enum class State { runnable, block_barrier, warp_barrier, done };

// One lane's value in a warp exchange: shuffles move values of up to 16 bytes.
struct Slot {
  unsigned char bytes[16];
};

struct Thread {
#ifdef EMBER_EMU_FAST_SWITCH
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  std::unique_ptr<char[]> stack;
  dim3 idx;
  int linear = 0;
  State state = State::runnable;
};

struct Block {
  dim3 block_idx, block_dim, grid_dim;
  std::vector<Thread> threads;
#ifdef EMBER_EMU_FAST_SWITCH
  void* scheduler_sp = nullptr;
#else
  ucontext_t scheduler;
#endif
  int current = -1;
  std::function<void()> body;
  // Warp exchange: per warp, two buffers of 32 lanes (alternating between consecutive ops).
  std::vector<Slot> warp_slots;  // [warp][2][32]
  std::vector<int> warp_phase;   // per lane: which buffer its next warp op uses
  std::vector<char> dynamic_shared;
  std::string error;
};

inline thread_local Block* current_block = nullptr;
inline constexpr size_t kStackBytes = 128 * 1024;

inline Thread& self() { return current_block->threads[current_block->current]; }

// Coroutine stacks, kept per OS thread across launches (not zeroed: pages are touched as used).
inline thread_local std::vector<std::unique_ptr<char[]>> spare_stacks;
inline std::unique_ptr<char[]> take_stack() {
  if (spare_stacks.empty()) return std::unique_ptr<char[]>(new char[kStackBytes]);
  auto s = std::move(spare_stacks.back());
  spare_stacks.pop_back();
  return s;
}
inline void return_stacks(std::vector<Thread>& threads) {
  for (auto& t : threads) {
    if (t.stack) spare_stacks.push_back(std::move(t.stack));
  }
}

inline void yield_to_scheduler(State s) {
  Block& b = *current_block;
  Thread& t = b.threads[b.current];
  t.state = s;
#ifdef EMBER_EMU_FAST_SWITCH
  ember_emu_switch(&t.sp, b.scheduler_sp);
#else
  swapcontext(&t.ctx, &b.scheduler);
#endif
}

inline void trampoline() {
  current_block->body();
  yield_to_scheduler(State::done);
}

// Runs one block to completion. `order_seed` shuffles the order threads run in.
inline void run_block(Block& b, uint64_t order_seed) {
  unsigned n = b.block_dim.x * b.block_dim.y * b.block_dim.z;
  b.threads.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    Thread& t = b.threads[i];
    t.linear = static_cast<int>(i);
    t.idx = dim3(i % b.block_dim.x, (i / b.block_dim.x) % b.block_dim.y, i / (b.block_dim.x * b.block_dim.y));
    t.state = State::runnable;
    if (!t.stack) t.stack = take_stack();
#ifdef EMBER_EMU_FAST_SWITCH
    // A fresh stack that ember_emu_switch "returns" into trampoline from: six zeroed
    // registers, trampoline's address, and a null return address for trampoline itself
    // (which never returns), leaving the stack aligned as after a call.
    auto top = reinterpret_cast<uintptr_t>(t.stack.get() + kStackBytes) & ~uintptr_t(15);
    auto* frame = reinterpret_cast<void**>(top) - 8;
    for (int k = 0; k < 6; ++k) frame[k] = nullptr;
    frame[6] = reinterpret_cast<void*>(&trampoline);
    frame[7] = nullptr;
    t.sp = frame;
#else
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = t.stack.get();
    t.ctx.uc_stack.ss_size = kStackBytes;
    t.ctx.uc_link = nullptr;
    makecontext(&t.ctx, trampoline, 0);
#endif
  }
  unsigned warps = (n + 31) / 32;
  b.warp_slots.assign(static_cast<size_t>(warps) * 64, Slot{});
  b.warp_phase.assign(n, 0);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(order_seed);
  Block* saved = current_block;
  current_block = &b;
  while (true) {
    if (order_seed != 0) std::shuffle(order.begin(), order.end(), rng);
    bool progressed = false;
    for (int i : order) {
      if (b.threads[i].state != State::runnable) continue;
      b.current = i;
#ifdef EMBER_EMU_FAST_SWITCH
      ember_emu_switch(&b.scheduler_sp, b.threads[i].sp);
#else
      swapcontext(&b.scheduler, &b.threads[i].ctx);
#endif
      progressed = true;
    }
    // Release warps whose live lanes all wait at a warp op, then a block barrier that all live
    // threads reached. With a seed, only a random part of the ready warps goes on, so warps
    // drift apart between block barriers as they can on hardware.
    std::vector<unsigned> ready;
    for (unsigned w = 0; w < warps; ++w) {
      unsigned lo = w * 32, hi = std::min(n, lo + 32);
      bool all_waiting = true, any_waiting = false;
      for (unsigned l = lo; l < hi; ++l) {
        State s = b.threads[l].state;
        if (s == State::warp_barrier)
          any_waiting = true;
        else if (s != State::done)
          all_waiting = false;
      }
      if (any_waiting && all_waiting) ready.push_back(w);
    }
    if (!ready.empty()) {
      size_t count = ready.size();
      if (order_seed != 0) {
        std::shuffle(ready.begin(), ready.end(), rng);
        count = 1 + rng() % ready.size();
      }
      for (size_t k = 0; k < count; ++k) {
        unsigned lo = ready[k] * 32, hi = std::min(n, lo + 32);
        for (unsigned l = lo; l < hi; ++l) {
          if (b.threads[l].state == State::warp_barrier) b.threads[l].state = State::runnable;
        }
      }
      continue;
    }
    unsigned at_barrier = 0, done = 0, at_warp = 0;
    for (auto& t : b.threads) {
      at_barrier += t.state == State::block_barrier;
      done += t.state == State::done;
      at_warp += t.state == State::warp_barrier;
    }
    if (done == n) break;
    if (at_barrier > 0 && at_barrier + done == n) {
      if (done > 0) {
        b.error = "barrier divergence: " + std::to_string(done) + " thread(s) of the block exited while " +
                  std::to_string(at_barrier) + " wait at __syncthreads()";
        break;
      }
      for (auto& t : b.threads) t.state = State::runnable;
      continue;
    }
    if (!progressed) {
      b.error = "deadlock: " + std::to_string(at_barrier) + " thread(s) at __syncthreads() and " +
                std::to_string(at_warp) + " at a warp operation whose other lanes never arrive";
      break;
    }
  }
  current_block = saved;
}

// Each lane deposits `v` and waits for its warp; returns the deposit buffer of this op.
inline Slot* warp_exchange(Slot v) {
  Block& b = *current_block;
  int me = b.current;
  int warp = me / 32, lane = me % 32;
  int phase = b.warp_phase[me];
  b.warp_phase[me] ^= 1;
  Slot* slots = &b.warp_slots[(static_cast<size_t>(warp) * 2 + phase) * 32];
  slots[lane] = v;
  yield_to_scheduler(State::warp_barrier);
  return slots;
}

template <class T>
Slot to_bits(const T& v) {
  static_assert(sizeof(T) <= sizeof(Slot), "warp shuffles here move at most 16 bytes");
  Slot s{};
  std::memcpy(s.bytes, &v, sizeof(T));
  return s;
}
template <class T>
T from_bits(const Slot& s) {
  T v;
  std::memcpy(&v, s.bytes, sizeof(T));
  return v;
}

inline int lane_count() {
  Block& b = *current_block;
  unsigned n = b.block_dim.x * b.block_dim.y * b.block_dim.z;
  int warp = b.current / 32;
  return static_cast<int>(std::min<unsigned>(32, n - warp * 32));
}

}  // namespace detail

// ---------------------------------------------------------------- built-in variables

inline dim3 thread_idx() { return detail::self().idx; }
inline dim3 block_idx() { return detail::current_block->block_idx; }
inline dim3 block_dim() { return detail::current_block->block_dim; }
inline dim3 grid_dim() { return detail::current_block->grid_dim; }
template <class T>
T* dynamic_shared() {
  return reinterpret_cast<T*>(detail::current_block->dynamic_shared.data());
}

// ---------------------------------------------------------------- synchronization

inline void syncthreads() { detail::yield_to_scheduler(detail::State::block_barrier); }
inline void syncwarp(unsigned = 0xffffffffu) { detail::warp_exchange(detail::Slot{}); }

template <class T>
T shfl_sync(unsigned, T v, int src, int width = 32) {
  int lane = detail::self().linear % 32;
  detail::Slot* s = detail::warp_exchange(detail::to_bits(v));
  int base = lane / width * width;
  int from = base + ((src % width) + width) % width;
  return from < detail::lane_count() ? detail::from_bits<T>(s[from]) : v;
}
template <class T>
T shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = detail::self().linear % 32;
  detail::Slot* s = detail::warp_exchange(detail::to_bits(v));
  int from = lane + static_cast<int>(delta);
  if (from / width != lane / width || from >= detail::lane_count()) return v;  // out of the segment: own value
  return detail::from_bits<T>(s[from]);
}
template <class T>
T shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = detail::self().linear % 32;
  detail::Slot* s = detail::warp_exchange(detail::to_bits(v));
  int from = lane - static_cast<int>(delta);
  if (from < 0 || from / width != lane / width) return v;
  return detail::from_bits<T>(s[from]);
}
template <class T>
T shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  int lane = detail::self().linear % 32;
  detail::Slot* s = detail::warp_exchange(detail::to_bits(v));
  int from = lane ^ mask;
  if (from / width != lane / width || from >= detail::lane_count()) return v;
  return detail::from_bits<T>(s[from]);
}
inline unsigned ballot_sync(unsigned, int pred) {
  detail::Slot* s = detail::warp_exchange(detail::to_bits(pred ? 1 : 0));
  unsigned bits = 0;
  for (int l = 0; l < detail::lane_count(); ++l) bits |= (detail::from_bits<int>(s[l]) ? 1u : 0u) << l;
  return bits;
}
inline int any_sync(unsigned m, int pred) { return ballot_sync(m, pred) != 0; }
inline int all_sync(unsigned m, int pred) {
  int n = detail::lane_count();
  unsigned full = n == 32 ? 0xffffffffu : ((1u << n) - 1);
  return ballot_sync(m, pred) == full;
}

// ---------------------------------------------------------------- atomics (no preemption inside one)

template <class T>
T atomic_add(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomic_max(T* p, T v) {
  T old = *p;
  *p = std::max(old, v);
  return old;
}
template <class T>
T atomic_min(T* p, T v) {
  T old = *p;
  *p = std::min(old, v);
  return old;
}
template <class T>
T atomic_exch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomic_cas(T* p, T compare, T v) {
  T old = *p;
  if (old == compare) *p = v;
  return old;
}

// ---------------------------------------------------------------- launch

/// Runs `kernel(args...)` over `grid` x `block` threads. `order_seed` 0 runs threads in
/// index order; any other value shuffles them between barriers. Throws emulation_error
/// on barrier divergence or deadlock.
template <class Kernel, class... Args>
void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, uint64_t order_seed, Kernel kernel, Args... args) {
  if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024) {
    throw emulation_error("invalid block size: " + std::to_string(block.x * block.y * block.z) + " threads");
  }
  detail::Block b;
  b.block_dim = block;
  b.grid_dim = grid;
  b.dynamic_shared.assign(dynamic_shared_bytes, 0);
  b.body = [&] { kernel(args...); };
  struct GiveBack {
    detail::Block& b;
    ~GiveBack() { detail::return_stacks(b.threads); }
  } give_back{b};
  uint64_t seed = order_seed;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        b.block_idx = dim3(x, y, z);
        detail::run_block(b, seed);
        if (!b.error.empty()) {
          throw emulation_error("block (" + std::to_string(x) + ", " + std::to_string(y) + ", " + std::to_string(z) +
                                "): " + b.error);
        }
        if (seed) seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      }
    }
  }
}

namespace detail {
template <class... A, size_t... I>
auto copy_args(void** args, std::index_sequence<I...>) {
  return std::make_tuple(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}
template <class... A, size_t... I>
void launch_args(dim3 grid, dim3 block, size_t shared, uint64_t seed, void (*kernel)(A...), void** args,
                 std::index_sequence<I...>) {
  launch(grid, block, shared, seed, kernel, *static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}
}  // namespace detail

/// launch() with the arguments as cudaLaunchKernel takes them: args[i] points to argument i.
template <class... A>
void launch_args(dim3 grid, dim3 block, size_t shared, uint64_t seed, void (*kernel)(A...), void** args) {
  detail::launch_args(grid, block, shared, seed, kernel, args, std::index_sequence_for<A...>{});
}

/// launch_args() for later: the arguments are copied now (as cudaLaunchKernel copies them),
/// the kernel runs when the returned function is called (on an emulated stream).
template <class... A>
std::function<void()> bind_args(dim3 grid, dim3 block, size_t shared, uint64_t seed, void (*kernel)(A...),
                                void** args) {
  return [=, values = detail::copy_args<A...>(args, std::index_sequence_for<A...>{})] {
    std::apply([&](const auto&... v) { launch(grid, block, shared, seed, kernel, v...); }, values);
  };
}

/// The host entry points of __global__ function `k` in a program built for the emulator:
/// emu_k runs it at once, emu_bind_k returns it bound to its arguments (a heap-allocated
/// std::function<void()> the caller deletes) for an emulated stream to run in order.
#define EMBER_EMU_ENTRY(k)                                                                                 \
  extern "C" void emu_##k(unsigned grid, unsigned block, uint64_t seed, void** args) {                     \
    ::ember::emu::launch_args(dim3(grid), dim3(block), 0, seed, &k, args);                                 \
  }                                                                                                        \
  extern "C" void* emu_bind_##k(unsigned grid, unsigned block, uint64_t seed, void** args) {               \
    return new std::function<void()>(::ember::emu::bind_args(dim3(grid), dim3(block), 0, seed, &k, args)); \
  }

}  // namespace ember::emu

// ---------------------------------------------------------------- CUDA spellings

#ifndef EMBER_EMU_NO_CUDA_NAMES
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define EMBER_DYNAMIC_SHARED(type, name) type* name = ::ember::emu::dynamic_shared<type>()
#define threadIdx (::ember::emu::thread_idx())
#define blockIdx (::ember::emu::block_idx())
#define blockDim (::ember::emu::block_dim())
#define gridDim (::ember::emu::grid_dim())
inline constexpr int warpSize = 32;
using ::ember::emu::dim3;
inline void __syncthreads() { ::ember::emu::syncthreads(); }
inline void __syncwarp(unsigned m = 0xffffffffu) { ::ember::emu::syncwarp(m); }
template <class T>
T __shfl_sync(unsigned m, T v, int src, int w = 32) {
  return ::ember::emu::shfl_sync(m, v, src, w);
}
template <class T>
T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) {
  return ::ember::emu::shfl_down_sync(m, v, d, w);
}
template <class T>
T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) {
  return ::ember::emu::shfl_up_sync(m, v, d, w);
}
template <class T>
T __shfl_xor_sync(unsigned m, T v, int x, int w = 32) {
  return ::ember::emu::shfl_xor_sync(m, v, x, w);
}
inline unsigned __ballot_sync(unsigned m, int p) { return ::ember::emu::ballot_sync(m, p); }
inline int __any_sync(unsigned m, int p) { return ::ember::emu::any_sync(m, p); }
inline int __all_sync(unsigned m, int p) { return ::ember::emu::all_sync(m, p); }
template <class T>
T atomicAdd(T* p, T v) {
  return ::ember::emu::atomic_add(p, v);
}
template <class T>
T atomicMax(T* p, T v) {
  return ::ember::emu::atomic_max(p, v);
}
template <class T>
T atomicMin(T* p, T v) {
  return ::ember::emu::atomic_min(p, v);
}
template <class T>
T atomicExch(T* p, T v) {
  return ::ember::emu::atomic_exch(p, v);
}
template <class T>
T atomicCAS(T* p, T c, T v) {
  return ::ember::emu::atomic_cas(p, c, v);
}
template <class T>
inline T max(T a, T b) {
  return a < b ? b : a;
}
template <class T>
inline T min(T a, T b) {
  return b < a ? b : a;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }

// Half types, as cuda_fp16.h / cuda_bf16.h spell them.
using __half = ::ember::float16_t;
using __nv_bfloat16 = ::ember::bfloat16_t;
inline float __half2float(__half h) { return static_cast<float>(h); }
inline __half __float2half(float f) { return __half(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return static_cast<float>(h); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }

// Vector types.
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned int x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned int x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
#endif
