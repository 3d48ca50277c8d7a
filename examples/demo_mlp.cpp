// Trains a 2-layer MLP on a synthetic 4-class problem (noisy interleaved
// spirals) with grad + SGD written with Ember ops, and reports accuracy.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include <ember/ember.h>

using namespace ember;

namespace {

// Points on 4 spiral arms in 2-D, lifted to 8 features with fixed nonlinear maps.
void make_data(int n, std::mt19937& rng, std::vector<float>& x, std::vector<float>& onehot, std::vector<int>& label) {
  std::uniform_real_distribution<float> r01(0.0f, 1.0f);
  std::normal_distribution<float> noise(0.0f, 0.04f);
  const int classes = 4, features = 8;
  x.assign(static_cast<size_t>(n) * features, 0.0f);
  onehot.assign(static_cast<size_t>(n) * classes, 0.0f);
  label.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    int c = i % classes;
    float t = 0.15f + 0.85f * r01(rng);  // arms meet at the origin; keep clear of it
    float angle = 1.75f * t * 3.14159265f + c * 2.0f * 3.14159265f / classes;
    float px = t * std::cos(angle) + noise(rng), py = t * std::sin(angle) + noise(rng);
    float f[features] = {px, py, px * py, px * px, py * py, std::sin(3 * px), std::cos(3 * py), px - py};
    for (int j = 0; j < features; ++j) x[i * features + j] = f[j];
    onehot[i * classes + c] = 1.0f;
    label[i] = c;
  }
}

array mlp(const std::vector<array>& p, const array& x) {
  array h = maximum(matmul(x, p[0]) + p[1], array(0.0f));  // ReLU
  return matmul(h, p[2]) + p[3];
}

}  // namespace

int main() {
  const int n_train = 2048, n_test = 1024, d = 8, hidden = 64, classes = 4, steps = 1500;
  const float lr = 0.5f;
  std::mt19937 rng(11);
  std::vector<float> xs, ys, xt, yt;
  std::vector<int> ls, lt;
  make_data(n_train, rng, xs, ys, ls);
  make_data(n_test, rng, xt, yt, lt);
  array X(xs, {n_train, d}), Y(ys, {n_train, classes});
  array Xt(xt, {n_test, d});

  std::normal_distribution<float> init(0.0f, 1.0f);
  auto randn = [&](int r, int c, float scale) {
    std::vector<float> v(static_cast<size_t>(r) * c);
    for (auto& e : v) e = init(rng) * scale;
    return array(v, {r, c});
  };
  std::vector<array> params = {randn(d, hidden, 1.0f / std::sqrt(float(d))), zeros({hidden}),
                               randn(hidden, classes, 1.0f / std::sqrt(float(hidden))), zeros({classes})};

  // Cross-entropy with one-hot targets: mean(logsumexp(logits) - <logits, y>).
  MultiFn loss_fn = [&](const std::vector<array>& p) {
    array logits = mlp(p, X);
    return std::vector<array>{mean(logsumexp(logits, 1) - sum(logits * Y, 1))};
  };
  auto step_fn = value_and_grad(loss_fn, std::vector<int>{0, 1, 2, 3});

  std::printf("Ember demo: 2-layer MLP (%d -> %d -> %d), %d training points, SGD lr %.2f\n", d, hidden, classes,
              n_train, lr);
  auto t0 = std::chrono::steady_clock::now();
  for (int step = 0; step <= steps; ++step) {
    auto [loss, grads] = step_fn(params);
    for (size_t i = 0; i < params.size(); ++i) params[i] = params[i] - lr * grads[i];
    eval(params);
    if (step % 250 == 0) std::printf("  step %3d  loss %.4f\n", step, loss[0].item<float>());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  array pred = argmax(mlp(params, Xt), 1);
  pred.eval();
  int correct = 0;
  for (int i = 0; i < n_test; ++i) correct += static_cast<int>(pred.data<uint32_t>()[i]) == lt[i];
  double acc = 100.0 * correct / n_test;
  std::printf("trained in %.2f s; held-out accuracy %.1f%% (%d/%d)\n", secs, acc, correct, n_test);
  return acc >= 95.0 ? 0 : 1;
}
