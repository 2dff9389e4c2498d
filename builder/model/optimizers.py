"""dlbuild's optimizers: ones the deep-learning curriculum names that Keras lacks.

Each is a ``keras.optimizers.Optimizer`` subclass registered as serializable, found by the
registry like a Keras optimizer (``radam``, ``ada_belief``/``adabelief``). Importing this module
registers them, which loading a ``.keras`` file compiled with one of them requires.
"""

from __future__ import annotations

import math

import keras
from keras import ops

_BASE_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
              "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps")


def _check_beta(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1); received {value!r}")


def _one_minus_power(beta, step, dtype):
    """``1 - beta**step`` computed as ``-expm1(step * log(beta))``: exact in float32 even when
    ``beta**step`` is within 1e-3 of 1 (``beta_2 = 0.999`` at early steps)."""
    if beta == 0.0:
        return ops.ones_like(step)
    return -ops.expm1(step * ops.cast(math.log(beta), dtype))


@keras.saving.register_keras_serializable(package="dlbuild")
class RAdam(keras.optimizers.Optimizer):
    """Rectified Adam: Adam whose adaptive learning rate is switched on only once the variance of
    its second-moment estimate is tractable, and rectified until then.

    Liu et al. 2019, "On the Variance of the Adaptive Learning Rate and Beyond" (ICLR 2020),
    Algorithm 2. With ``ρ∞ = 2 / (1 - β2) - 1`` and at step ``t``::

        m_t = β1 m_{t-1} + (1 - β1) g_t                  v_t = β2 v_{t-1} + (1 - β2) g_t²
        m̂_t = m_t / (1 - β1^t)                           ρ_t = ρ∞ - 2 t β2^t / (1 - β2^t)
        if ρ_t > sma_threshold:                           (variance tractable: adaptive step)
            r_t = sqrt((ρ_t - 4)(ρ_t - 2) ρ∞ / ((ρ∞ - 4)(ρ∞ - 2) ρ_t))
            θ_t = θ_{t-1} - α r_t m̂_t sqrt(1 - β2^t) / (sqrt(v_t) + ε)
        else:                                             (un-adapted momentum step)
            θ_t = θ_{t-1} - α m̂_t

    Variant: the paper's test is ``ρ_t > 4`` (where ``r_t`` is defined); the authors' released
    code (LiyuanLucasLiu/RAdam, ``N_sma >= 5``) and TensorFlow Addons' ``RectifiedAdam`` use 5,
    which is the default here (``sma_threshold``; any value ≥ 4). ``ε`` is added to ``sqrt(v_t)``
    as in that code and in Keras's Adam (``ε̂`` of Kingma & Ba). With ``β2 = 0.999`` the first 5
    steps are momentum-SGD steps. Keras's ``weight_decay`` is decoupled (AdamW-style), as for every
    Keras optimizer.

    Args:
        learning_rate: ``α``: a float or a learning-rate schedule. Defaults to 1e-3.
        beta_1: ``β1``. Defaults to 0.9.
        beta_2: ``β2``. Defaults to 0.999.
        epsilon: ``ε``. Defaults to 1e-7 (Keras's Adam default).
        sma_threshold: The adaptive step is taken once ``ρ_t`` exceeds it. Defaults to 5.
        **kwargs: every ``keras.optimizers.Optimizer`` argument (``weight_decay``, ``clipnorm``,
            ``global_clipnorm``, ``use_ema``, ``name``…).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, sma_threshold=5.0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="radam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        _check_beta("beta_1", beta_1)
        _check_beta("beta_2", beta_2)
        if sma_threshold < 4:
            raise ValueError(f"sma_threshold must be at least 4 (the rectification term needs ρ_t > 4); "
                             f"received {sma_threshold!r}")
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.sma_threshold = float(sma_threshold)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))

        bias_1 = _one_minus_power(self.beta_1, step, dtype)                 # 1 - β1^t
        bias_2 = _one_minus_power(self.beta_2, step, dtype)                 # 1 - β2^t
        m_hat = ops.divide(m, bias_1)
        rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0
        rho_t = rho_inf - 2.0 * step * (1.0 - bias_2) / bias_2
        ratio = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf) / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        r_t = ops.sqrt(ops.maximum(ratio, 0.0))                              # only used where ρ_t > 4
        adaptive = r_t * m_hat * ops.sqrt(bias_2) / (ops.sqrt(v) + self.epsilon)
        update = ops.where(rho_t > self.sma_threshold, adaptive, m_hat)
        self.assign_sub(variable, ops.multiply(lr, update))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "sma_threshold": self.sma_threshold})
        return config


@keras.saving.register_keras_serializable(package="dlbuild")
class AdaBelief(keras.optimizers.Optimizer):
    """AdaBelief: Adam whose denominator tracks the variance of the gradient around its moving
    average ("the belief in the observed gradient") instead of its raw second moment.

    Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
    Gradients" (NeurIPS 2020), Algorithm 2::

        m_t = β1 m_{t-1} + (1 - β1) g_t
        s_t = β2 s_{t-1} + (1 - β2) (g_t - m_t)² + ε
        m̂_t = m_t / (1 - β1^t)          ŝ_t = s_t / (1 - β2^t)
        θ_t = θ_{t-1} - α m̂_t / (sqrt(ŝ_t) + ε)

    ``ε`` enters twice, inside ``s_t`` (stored, so it accumulates) and beside ``sqrt(ŝ_t)``, as in
    the authors' released code (adabelief-pytorch / adabelief-tf ≥ 0.2, ``rectify=False``,
    decoupled weight decay through Keras's ``weight_decay``). ``ε`` plays the role of ``ε²`` in
    Adam: the authors recommend 1e-16 (default here) for adaptive behaviour, up to 1e-8 for
    SGD-like behaviour.

    Args:
        learning_rate: ``α``: a float or a learning-rate schedule. Defaults to 1e-3.
        beta_1: ``β1``. Defaults to 0.9.
        beta_2: ``β2``. Defaults to 0.999.
        epsilon: ``ε``. Defaults to 1e-16.
        **kwargs: every ``keras.optimizers.Optimizer`` argument (``weight_decay``, ``clipnorm``,
            ``global_clipnorm``, ``use_ema``, ``name``…).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-16, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="adabelief", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        _check_beta("beta_1", beta_1)
        _check_beta("beta_2", beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._beliefs = self.add_optimizer_variables(var_list, ["momentum", "belief"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        s = self._beliefs[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        residual = ops.square(ops.subtract(gradient, m))
        self.assign(s, self.beta_2 * s + (1 - self.beta_2) * residual + self.epsilon)
        m_hat = ops.divide(m, _one_minus_power(self.beta_1, step, dtype))
        s_hat = ops.divide(s, _one_minus_power(self.beta_2, step, dtype))
        self.assign_sub(variable, ops.divide(ops.multiply(lr, m_hat), ops.sqrt(s_hat) + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


__all__ = ["RAdam", "AdaBelief"]
