"""RAdam and AdaBelief against their papers' update rules, re-implemented independently in NumPy."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import builder  # noqa: E402
from builder.model.optimizers import AdaBelief, RAdam  # noqa: E402

# A tiny quadratic f(θ) = ½ Σ a_i (θ_i - c_i)², gradient a ⊙ (θ - c); one coordinate starts at the
# optimum's other side and one has a large curvature, so signs and scales both matter.
A = np.array([1.0, 10.0, 0.5, 3.0])
C = np.array([1.0, -2.0, 0.5, 0.0])
THETA0 = np.array([0.0, 1.0, -3.0, 0.25])


def grad(theta):
    return A * (theta - C)


def radam_numpy(steps, lr, b1, b2, eps, threshold):
    """Liu et al. 2019, Algorithm 2, written out (float64); threshold = the SMA test."""
    theta, m, v = THETA0.copy(), 0.0, 0.0
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    trajectory, adaptive = [], []
    for t in range(1, steps + 1):
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > threshold:
            l_t = math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)  # sqrt((1 - β2^t) / v_t), ε as in the code
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta = theta - lr * r_t * m_hat * l_t
        else:
            theta = theta - lr * m_hat  # un-adapted momentum
        trajectory.append(theta)
        adaptive.append(rho_t > threshold)
    return np.array(trajectory), adaptive


def adabelief_numpy(steps, lr, b1, b2, eps):
    """Zhuang et al. 2020, Algorithm 2, written out (float64)."""
    theta, m, s = THETA0.copy(), 0.0, 0.0
    trajectory = []
    for t in range(1, steps + 1):
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        m_hat, s_hat = m / (1 - b1 ** t), s / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(s_hat) + eps)
        trajectory.append(theta)
    return np.array(trajectory)


def keras_eager(optimizer, steps):
    """Apply the optimizer step by step with the exact gradient of the quadratic."""
    var = keras.Variable(THETA0.astype("float32"))
    trajectory = []
    for _ in range(steps):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad(var.numpy()).astype("float32")), var)])
        trajectory.append(var.numpy().astype("float64"))
    return np.array(trajectory)


def keras_compiled(optimizer, steps):
    """The same through tf.GradientTape in one XLA-compiled tf.function (as Model.fit runs it)."""
    var = tf.Variable(THETA0.astype("float32"))
    a, c = tf.constant(A, tf.float32), tf.constant(C, tf.float32)
    optimizer.build([var])

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.reduce_sum(a * (var - c) ** 2)
        optimizer.apply_gradients([(tape.gradient(loss, var), var)])
        return var.read_value()

    return np.array([step().numpy() for _ in range(steps)], dtype="float64")


# --- RAdam -----------------------------------------------------------------------------------

def test_radam_first_step_by_hand():
    """t = 1: m̂_1 = g_1 and ρ_1 = 1 ≤ 5, so θ_1 = θ_0 - α g_1 (plain SGD)."""
    got = keras_eager(RAdam(learning_rate=0.1), 1)[0]
    np.testing.assert_allclose(got, THETA0 - 0.1 * grad(THETA0), rtol=1e-6)


@pytest.mark.parametrize("b1,b2,threshold", [(0.9, 0.999, 5.0), (0.8, 0.99, 4.0), (0.9, 0.95, 5.0)])
def test_radam_matches_algorithm_2(b1, b2, threshold):
    steps, lr, eps = 12, 0.05, 1e-7
    expected, adaptive = radam_numpy(steps, lr, b1, b2, eps, threshold)
    # The run covers both branches: the early un-adapted steps (ρ_t ≤ threshold) and the rectified ones.
    assert not adaptive[0] and adaptive[-1] and 3 <= adaptive.index(True) <= 6
    optimizer = RAdam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, sma_threshold=threshold)
    np.testing.assert_allclose(keras_eager(optimizer, steps), expected, rtol=2e-5, atol=1e-6)
    optimizer = RAdam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, sma_threshold=threshold)
    np.testing.assert_allclose(keras_compiled(optimizer, steps), expected, rtol=2e-5, atol=1e-6)


def test_radam_switches_to_adaptive_exactly_after_step_5_with_beta2_0999():
    """ρ_5 ≈ 4.996 and ρ_6 ≈ 5.994 (β2 = 0.999): steps 1–5 are SGD with momentum, as in the paper's
    official code (threshold 5); with the paper's ρ_t > 4 step 5 is already adaptive."""
    _, adaptive = radam_numpy(8, 0.01, 0.9, 0.999, 1e-7, 5.0)
    assert adaptive == [False] * 5 + [True] * 3
    _, adaptive = radam_numpy(8, 0.01, 0.9, 0.999, 1e-7, 4.0)
    assert adaptive == [False] * 4 + [True] * 4
    for threshold in (4.0, 5.0):
        expected, _ = radam_numpy(8, 0.01, 0.9, 0.999, 1e-7, threshold)
        got = keras_eager(RAdam(learning_rate=0.01, sma_threshold=threshold), 8)
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)


def test_radam_config_roundtrip_and_checks():
    optimizer = RAdam(learning_rate=3e-4, beta_1=0.8, sma_threshold=6, weight_decay=0.01)
    config = optimizer.get_config()
    assert config["sma_threshold"] == 6.0 and config["beta_1"] == 0.8
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, RAdam) and restored.get_config() == config
    with pytest.raises(ValueError, match="sma_threshold"):
        RAdam(sma_threshold=3)
    with pytest.raises(ValueError, match="beta_2"):
        RAdam(beta_2=1.0)


# --- AdaBelief -------------------------------------------------------------------------------

def test_adabelief_first_step_by_hand():
    """t = 1: m̂_1 = g, s_1 = (1-β2)(β1 g)² + ε, ŝ_1 ≈ β1² g², so θ_1 ≈ θ_0 - α sign(g) / β1."""
    got = keras_eager(AdaBelief(learning_rate=0.1), 1)[0]
    np.testing.assert_allclose(got, THETA0 - 0.1 * np.sign(grad(THETA0)) / 0.9, rtol=1e-6)


@pytest.mark.parametrize("b1,b2,eps", [(0.9, 0.999, 1e-16), (0.5, 0.9, 1e-2), (0.9, 0.999, 1e-3)])
def test_adabelief_matches_algorithm_2(b1, b2, eps):
    """Several steps; a large ε checks where ε enters (inside s_t and beside sqrt(ŝ_t))."""
    steps, lr = 10, 0.05
    expected = adabelief_numpy(steps, lr, b1, b2, eps)
    optimizer = AdaBelief(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np.testing.assert_allclose(keras_eager(optimizer, steps), expected, rtol=2e-5, atol=1e-6)
    optimizer = AdaBelief(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np.testing.assert_allclose(keras_compiled(optimizer, steps), expected, rtol=2e-5, atol=1e-6)


def test_adabelief_config_roundtrip():
    optimizer = AdaBelief(learning_rate=1e-3, epsilon=1e-12, global_clipnorm=1.0)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, AdaBelief) and restored.get_config() == optimizer.get_config()


# --- in a model and in a spec ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["radam", "ada_belief"])
def test_fit_with_the_optimizer_and_reload_the_model(name, tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], "float32") + 0.3
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = RAdam(learning_rate=0.1) if name == "radam" else AdaBelief(learning_rate=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.2 * history[0], history
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(loaded.optimizer) is type(optimizer)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 80
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_radam_spec_validates(write_spec):
    spec = builder.load_spec(write_spec("""
        name: radam_mlp
        data: {dataset: digits}
        model:
          inputs: {image: {shape: [8, 8, 1]}}
          layers:
            - flatten
            - dense: {units: 10, activation: softmax}
        compile:
          optimizer: {radam: {learning_rate: 1.0e-3}}
          loss: sparse_categorical_crossentropy
    """))
    assert spec.compile["optimizer"] == {"radam": {"learning_rate": 1.0e-3}}
    from builder.model.graph import build_compile_args

    optimizer = build_compile_args(spec)["optimizer"]
    assert isinstance(optimizer, RAdam) and optimizer.learning_rate.numpy() == pytest.approx(1e-3)


def test_optimizer_spec_mistakes_are_located(write_spec):
    with pytest.raises(builder.SpecError) as err:
        builder.load_spec(write_spec("""
            name: bad
            data: {dataset: digits}
            model:
              inputs: {image: {shape: [8, 8, 1]}}
              layers: [flatten, {dense: 10}]
            compile:
              optimizer: {ada_belief: {learning_rate: 1.0e-3, sma_threshold: 5}}
              loss: mse
        """))
    assert "sma_threshold" in str(err.value) and ":7:" in str(err.value)
