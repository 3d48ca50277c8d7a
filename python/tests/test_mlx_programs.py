"""MLX programs (the linear and logistic regression examples from MLX's docs and
examples) with only the import changed, fewer iterations."""

import ember.core as mx


def test_linear_regression_example():
    mx.random.seed(0)
    num_features = 100
    num_examples = 1_000
    num_iters = 300
    lr = 0.1

    # True parameters
    w_star = mx.random.normal((num_features,))

    # Input examples (design matrix)
    X = mx.random.normal((num_examples, num_features))

    # Noisy labels
    eps = 1e-2 * mx.random.normal((num_examples,))
    y = X @ w_star + eps

    def loss_fn(w):
        return 0.5 * mx.mean(mx.square(X @ w - y))

    grad_fn = mx.grad(loss_fn)

    w = 1e-2 * mx.random.normal((num_features,))

    for _ in range(num_iters):
        grad = grad_fn(w)
        w = w - lr * grad
        mx.eval(w)

    loss = loss_fn(w)
    error_norm = mx.sum(mx.square(w - w_star)).item() ** 0.5
    assert loss.item() < 1e-3
    assert error_norm < 1e-2


def test_logistic_regression_example():
    mx.random.seed(1)
    num_features = 20
    num_examples = 1_000
    num_iters = 200
    lr = 0.5

    w_star = mx.random.normal((num_features,))
    X = mx.random.normal((num_examples, num_features))
    y = (X @ w_star) > 0

    def loss_fn(w):
        logits = X @ w
        return mx.mean(mx.logaddexp(0.0, logits) - y * logits)

    grad_fn = mx.grad(loss_fn)
    w = 1e-2 * mx.random.normal((num_features,))
    for _ in range(num_iters):
        grad = grad_fn(w)
        w = w - lr * grad
        mx.eval(w)

    acc = mx.mean((X @ w > 0) == y)
    assert acc.item() > 0.95


def test_mlp_with_value_and_grad_over_a_parameter_dict():
    mx.random.seed(2)
    X = mx.random.normal((256, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(mx.int32)
    params = {
        "l1": {"w": 0.5 * mx.random.normal((4, 32)), "b": mx.zeros((32,))},
        "l2": {"w": 0.5 * mx.random.normal((32, 2)), "b": mx.zeros((2,))},
    }

    def loss_fn(p):
        h = mx.maximum(X @ p["l1"]["w"] + p["l1"]["b"], 0.0)
        logits = h @ p["l2"]["w"] + p["l2"]["b"]
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        return -mx.mean(mx.take_along_axis(logp, y[:, None], axis=-1)), logits

    step = mx.value_and_grad(loss_fn)
    first = None
    for _ in range(300):
        (loss, logits), g = step(params)
        params = {k: {n: v - 0.5 * g[k][n] for n, v in layer.items()} for k, layer in params.items()}
        mx.eval(params)
        first = loss.item() if first is None else first
    acc = mx.mean(mx.argmax(logits, axis=-1) == y).item()
    assert loss.item() < first / 2 and acc > 0.9
