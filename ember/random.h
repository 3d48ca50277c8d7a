// ember::random: counter-based random numbers with explicit keys, as in
// mlx.core.random (and JAX). A key is a uint32 array of shape (2,); the same key
// always gives the same numbers. Functions taking an optional `key` use the
// global key sequence when it is absent (seeded by seed(), else from the clock),
// splitting it on every call.
//
// Bits come from threefry2x32 with 20 rounds (Random123's threefry2x32_20),
// with MLX's layout: for n output words per key, counter pair j in [0, n/2)
// gives words j and j + ceil(n/2) (see backend/cpu/random.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "ember/array.h"
#include "ember/device.h"

namespace ember::random {

using Key = std::optional<array>;

/// The key of `seed`: (seed >> 32, seed & 0xffffffff) as uint32.
array key(uint64_t seed);
/// Re-seeds the global key sequence.
void seed(uint64_t seed);
/// `num` new keys from `key`, shape (num, 2).
array split(const array& key, int num = 2, StreamOrDevice s = {});
/// Random bits of the given shape; width in bytes (1, 2 or 4) gives uint8, uint16 or uint32.
array bits(const Shape& shape, int width = 4, const Key& key = std::nullopt, StreamOrDevice s = {});
/// Uniform in [low, high) (low and high broadcast to `shape`); floating-point dtypes only.
array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype = float32,
              const Key& key = std::nullopt, StreamOrDevice s = {});
/// Uniform in [0, 1).
array uniform(const Shape& shape, Dtype dtype = float32, const Key& key = std::nullopt, StreamOrDevice s = {});
/// Normal with mean `loc` and standard deviation `scale`.
array normal(const Shape& shape, Dtype dtype = float32, double loc = 0.0, double scale = 1.0,
             const Key& key = std::nullopt, StreamOrDevice s = {});
/// Integers uniform in [low, high).
array randint(const array& low, const array& high, const Shape& shape, Dtype dtype = int32,
              const Key& key = std::nullopt, StreamOrDevice s = {});
/// True with probability p (a floating-point array broadcast to `shape`).
array bernoulli(const array& p, const Shape& shape, const Key& key = std::nullopt, StreamOrDevice s = {});
array bernoulli(const array& p, const Key& key = std::nullopt, StreamOrDevice s = {});
/// p = 0.5, a scalar.
array bernoulli(const Key& key = std::nullopt, StreamOrDevice s = {});
/// Standard normal truncated to [lower, upper].
array truncated_normal(const array& lower, const array& upper, const Shape& shape, Dtype dtype = float32,
                       const Key& key = std::nullopt, StreamOrDevice s = {});
array truncated_normal(const array& lower, const array& upper, Dtype dtype = float32, const Key& key = std::nullopt,
                       StreamOrDevice s = {});
/// Standard Gumbel.
array gumbel(const Shape& shape, Dtype dtype = float32, const Key& key = std::nullopt, StreamOrDevice s = {});
/// Laplace with location `loc` and scale `scale`.
array laplace(const Shape& shape, Dtype dtype = float32, double loc = 0.0, double scale = 1.0,
              const Key& key = std::nullopt, StreamOrDevice s = {});
/// Multivariate normal samples of shape broadcast(shape, cov's and mean's batch axes) + (N,),
/// for mean (..., N) and a symmetric positive semi-definite cov (..., N, N), as MLX: with
/// cov = U diag(S) Vt (linalg::svd), sample = mean + z @ (U diag(sqrt(S)) Vt), z standard
/// normal. dtype float32 or float64.
array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype = float32,
                          const Key& key = std::nullopt, StreamOrDevice s = {});
/// Samples indices along `axis` with probabilities softmax(logits); one per row.
array categorical(const array& logits, int axis = -1, const Key& key = std::nullopt, StreamOrDevice s = {});
/// As above with output `shape` (broadcast-compatible with logits' shape without `axis`).
array categorical(const array& logits, int axis, const Shape& shape, const Key& key = std::nullopt,
                  StreamOrDevice s = {});
/// `num_samples` samples per row, on a new last axis.
array categorical(const array& logits, int axis, int num_samples, const Key& key = std::nullopt, StreamOrDevice s = {});
/// A random permutation of arange(n) (int32).
array permutation(int n, const Key& key = std::nullopt, StreamOrDevice s = {});
/// `x` shuffled along `axis`.
array permutation(const array& x, int axis = 0, const Key& key = std::nullopt, StreamOrDevice s = {});

namespace detail {
/// One threefry2x32_20 block: Random123's threefry2x32_20(ctr, key).
std::pair<uint32_t, uint32_t> threefry2x32(std::pair<uint32_t, uint32_t> key, std::pair<uint32_t, uint32_t> ctr);
}  // namespace detail

}  // namespace ember::random
