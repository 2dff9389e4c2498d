"""``fit.mixed_precision: auto``: float16 compute where it pays off, float32 elsewhere.

Mixed precision pays off on NVIDIA GPUs of compute capability 7.0 or higher (Volta and later,
whose Tensor Cores run float16 matrix maths); older GPUs gain little and CPUs usually run it
slower. TensorFlow, "Mixed precision", section "Supported hardware"
(https://www.tensorflow.org/guide/mixed_precision); NVIDIA, "Train With Mixed Precision"
(https://docs.nvidia.com/deeplearning/performance/mixed-precision-training/). ``auto`` therefore
means ``mixed_float16`` (with loss scaling, :func:`builder.model.graph.build_compile_args`) when
every visible GPU has compute capability ≥ 7.0, and ``none`` otherwise, CPU-only machines included.
"""

from __future__ import annotations

POLICIES = ("none", "mixed_float16", "mixed_bfloat16")
MIN_COMPUTE_CAPABILITY = (7, 0)


def float16_pays_off(compute_capabilities: list) -> bool:
    """True when there is at least one GPU and every one has compute capability ≥ 7.0.

    Args:
        compute_capabilities: One ``(major, minor)`` per visible GPU (None: unknown, counts as
            not paying off).
    """
    return bool(compute_capabilities) and all(
        cc is not None and tuple(cc) >= MIN_COMPUTE_CAPABILITY for cc in compute_capabilities)


def visible_compute_capabilities() -> list:
    """``(major, minor)`` of each GPU TensorFlow sees (``tf.config.experimental.get_device_details``;
    None where it does not say); ``[]`` on a CPU-only machine."""
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(g).get("compute_capability")
            for g in tf.config.list_physical_devices("GPU")]


def resolve(value: str | None) -> str:
    """The Keras dtype policy for ``fit.mixed_precision`` (``auto`` decided on this machine's GPUs)."""
    if value in (None, "auto"):
        return "mixed_float16" if float16_pays_off(visible_compute_capabilities()) else "none"
    return value
