// Fits a linear model y = X w + b to noisy synthetic data by full-batch
// gradient descent, written with Ember ops (gradients by hand until the
// transforms land), and reports how close it got to the true parameters.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include <ember/ember.h>

using namespace ember;

int main() {
  const int n = 4096, d = 16;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> xs(n * d), true_w(d), ys(n);
  for (auto& v : xs) v = normal(rng);
  for (int j = 0; j < d; ++j) true_w[j] = static_cast<float>(j % 5) - 2.0f + 0.25f * j / d;
  const float true_b = 0.5f;
  for (int i = 0; i < n; ++i) {
    float acc = true_b;
    for (int j = 0; j < d; ++j) acc += xs[i * d + j] * true_w[j];
    ys[i] = acc + 0.1f * normal(rng);
  }
  array X(xs, {n, d});
  array y(ys, {n, 1});
  array w = zeros({d, 1});
  array b = zeros({1});
  const float lr = 0.1f;

  std::printf("Ember demo: linear regression, %d samples x %d features, gradient descent (lr %.2f)\n", n, d, lr);
  auto t0 = std::chrono::steady_clock::now();
  float loss_value = 0.0f;
  for (int step = 0; step <= 200; ++step) {
    array err = matmul(X, w) + b - y;                       // (n, 1)
    array loss = mean(square(err));                         // mean squared error
    array grad_w = matmul(transpose(X), err) * (2.0f / n);  // d loss / d w
    array grad_b = sum(err, 0) * (2.0f / n);                // d loss / d b
    w = w - lr * grad_w;
    b = b - lr * grad_b;
    eval(w, b, loss);
    loss_value = loss.item<float>();
    if (step % 25 == 0) std::printf("  step %3d  loss %.6f\n", step, loss_value);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float max_err = max(abs(reshape(w, {d}) - array(true_w, {d}))).item<float>();
  std::printf("fit in %.3f s: final loss %.5f (noise floor %.5f), max |w - w_true| = %.4f, b = %.4f (true %.2f)\n",
              secs, loss_value, 0.01f, max_err, b.item<float>(), true_b);
  std::printf("%s\n", max_err < 0.02f ? "recovered the true parameters" : "did NOT recover the parameters");
  return max_err < 0.02f ? 0 : 1;
}
