// Internal: stream workers and the thread pool kernels use to split work.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "ember/device.h"

namespace ember::scheduler {

/// Submits `task` to stream `s`; returns its sequence number there. Tasks on a
/// stream run in submission order on the stream's worker thread.
uint64_t enqueue(const Stream& s, std::function<void()> task);
/// Like enqueue, for a caller about to block on the result: when the stream is idle (no task
/// queued or running), the task is not queued but stays in `task`, the stream is reserved
/// for it, and the caller must run it with run_claimed (saving the hand-off to the worker
/// thread). Otherwise the task is queued and `task` is left empty.
uint64_t enqueue_or_claim(const Stream& s, std::function<void()>& task);
/// Runs a task claimed by enqueue_or_claim in the calling thread and releases the stream.
void run_claimed(const Stream& s, std::function<void()> task);
/// The sequence number the next enqueue on `s` will get.
uint64_t next_seq(const Stream& s);
/// Blocks until the task with sequence number `seq` on stream `stream_index` finished.
void wait_for(int stream_index, uint64_t seq);
/// Whether task `seq` on `stream_index` has finished.
bool is_done(int stream_index, uint64_t seq);

/// The pool's helper threads spin for a moment after each parallel_for, so that back-to-back
/// loops skip a sleep and wake-up. Code about to run a library on its own threads (OpenBLAS,
/// oneDNN) calls this first: the helpers sleep at once and leave it the cores.
void quiet_helpers();

/// Number of threads parallel_for may use (cores, or EMBER_NUM_THREADS).
int num_threads();
/// Runs f(begin, end) over [0, n) split into at most num_threads() chunks of at
/// least `grain` items. Runs inline when small or when the pool is busy.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

}  // namespace ember::scheduler
