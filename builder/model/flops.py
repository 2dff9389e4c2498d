"""FLOPs of one forward pass of one built Keras layer, per sample, from its input and output shapes.

FLOPs per sample (:func:`layer_flops`) count one multiply-add as 2 FLOPs, the convention of
Kaplan et al. 2020 ("Scaling Laws for Neural Language Models", arXiv:2001.08361, §2.1:
C ≈ 2N per token for the forward pass) and of Hoffmann et al. 2022 (arXiv:2203.15556, App. F).
Only the forward pass (inference) is counted; bias additions and element-wise activations are not.
Formulas, with out = output positions per sample (product of the output's non-batch, non-channel
dimensions) and k = product of the kernel's spatial dimensions:

* Dense / EinsumDense: 2 · (product of every einsum index size) — Dense is ``...i,io->...o``,
  so 2 · positions · in · units.
* ConvND: 2 · out · filters · k · in_channels / groups. Conv transposes: 2 · in positions ·
  in_channels · k · filters / groups. Depthwise: 2 · out · in_channels · depth_multiplier · k.
  Separable: depthwise + 2 · out · in_channels · depth_multiplier · filters (pointwise)
  (Howard et al. 2017, MobileNets, arXiv:1704.04861, §3.1, counted as MACs there).
* MultiHeadAttention (Vaswani et al. 2017, arXiv:1706.03762; Kaplan et al. 2020, Table 1):
  projections 2·(Tq·dq·h·dk + Tv·dk_in·h·dk + Tv·dv_in·h·dv + Tq·h·dv·d_out) plus attention
  2·h·Tq·Tv·(dk + dv). Attention (dot-product): 2·Tq·Tv·(d + dv).
* SimpleRNN / GRU / LSTM: 2 · T · g · units · (input + units) with g = 1, 3, 4 gates
  (Hochreiter & Schmidhuber 1997; Cho et al. 2014); Bidirectional doubles it. ConvLSTM:
  2 · T · out · 4 · filters · k · (in_channels + filters).
* BatchNormalization: 2 per element (at inference the normalisation folds into one multiply-add,
  Ioffe & Szegedy 2015). LayerNormalization / GroupNormalization: 7 per element (mean: 1 add;
  centre: 1 sub; variance: 1 mul + 1 add; scale by 1/σ: 1 mul; affine: 1 mul + 1 add).
* Pooling: one compare or add per window element: output elements · pool size; global pooling:
  input elements.

Layers with no formula here (Embedding lookups, reshapes, merges, activations, dropout,
preprocessing…) count 0; :attr:`builder.model.check.Report.uncounted` lists their classes for
the table's footnote. Shapes are tuples with the batch axis first (``None``); a ``None``
(variable) dimension elsewhere makes the count unknown (``None``). Used by
:func:`builder.model.check.check_spec` for ``dlbuild check``'s table.
"""

from __future__ import annotations

import re


def product(dims) -> int | None:
    """The product of ``dims`` (ints), or None when one is None (a variable dimension)."""
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= int(d)
    return out


def _einsum_macs(equation: str, in_shape: tuple, kernel_shape: tuple, out_shape: tuple) -> int | None:
    """Multiply-adds of ``einsum(equation, x, kernel)`` for one sample: the product of every index's
    size, ellipsis dimensions included once (the batch axis counts 1)."""
    lhs, out_spec = equation.replace(" ", "").split("->")
    in_spec, k_spec = lhs.split(",")
    in_shape = (1,) + tuple(in_shape[1:])    # one sample
    out_shape = (1,) + tuple(out_shape[1:])
    sizes: dict[str, int | None] = {}
    ellipsis: tuple = ()

    def bind(spec: str, shape: tuple) -> tuple:
        pre, _, post = spec.partition("...")
        named = list(zip(pre, shape[:len(pre)])) + (list(zip(post, shape[len(shape) - len(post):])) if post else [])
        for ch, d in named:
            if sizes.get(ch) is None:
                sizes[ch] = d
        return tuple(shape[len(pre):len(shape) - len(post)]) if "..." in spec else ()

    ellipsis = bind(in_spec, in_shape) or ellipsis
    bind(k_spec, tuple(kernel_shape))
    bind(out_spec, out_shape)
    return product(list(sizes.values()) + list(ellipsis))


def layer_flops(layer, in_shapes: list[tuple], out_shape: tuple) -> tuple[int | None, bool]:
    """FLOPs of one forward pass of ``layer`` for one sample, and whether a formula exists.

    Args:
        layer: A built Keras layer.
        in_shapes: The shapes of its inputs, batch axis first (``None``).
        out_shape: The shape of its (first) output, batch axis first.

    Returns:
        ``(flops, counted)``: ``flops`` is None when a needed dimension is variable; ``counted`` is
        False for layers without a formula (then ``flops`` is 0). See the module docstring.
    """
    cls = type(layer).__name__
    x = in_shapes[0] if in_shapes else ()
    out = out_shape[1:]
    try:
        if cls == "Dense":
            return _mul2(product(out[:-1]), x[-1], layer.units), True
        if cls == "EinsumDense":
            macs = _einsum_macs(layer.equation, x, tuple(layer.kernel.shape), out_shape)
            return _mul2(macs), True
        if cls in ("Conv1D", "Conv2D", "Conv3D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = out[:-1] if layer.data_format == "channels_last" else out[1:]
            return _mul2(product(sp), layer.filters, product(layer.kernel_size), cin // layer.groups), True
        if cls in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = x[1:-1] if layer.data_format == "channels_last" else x[2:]
            return _mul2(product(sp), cin, product(layer.kernel_size), layer.filters), True
        if cls in ("DepthwiseConv1D", "DepthwiseConv2D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = out[:-1] if layer.data_format == "channels_last" else out[1:]
            return _mul2(product(sp), cin, layer.depth_multiplier, product(layer.kernel_size)), True
        if cls in ("SeparableConv1D", "SeparableConv2D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = product(out[:-1] if layer.data_format == "channels_last" else out[1:])
            dw = _mul2(sp, cin, layer.depth_multiplier, product(layer.kernel_size))
            pw = _mul2(sp, cin, layer.depth_multiplier, layer.filters)
            return (None if dw is None or pw is None else dw + pw), True
        if cls == "MultiHeadAttention":
            q = x
            v = in_shapes[1] if len(in_shapes) > 1 else q
            k = in_shapes[2] if len(in_shapes) > 2 else v
            h, dk = layer.num_heads, layer.key_dim
            dv = layer.value_dim or dk
            tq, tv = product(q[1:-1]), product(v[1:-1])
            d_out = out_shape[-1]
            parts = [_mul2(tq, q[-1], h, dk), _mul2(tv, k[-1], h, dk), _mul2(tv, v[-1], h, dv),
                     _mul2(tq, h, dv, d_out), _mul2(h, tq, tv, dk + dv)]
            return (None if None in parts else sum(parts)), True
        if cls == "Attention":
            q = x
            v = in_shapes[1] if len(in_shapes) > 1 else q
            return _mul2(product(q[1:-1]), product(v[1:-1]), q[-1] + v[-1]), True
        if cls in ("SimpleRNN", "GRU", "LSTM"):
            return _rnn_flops(cls, layer.units, x), True
        if cls == "Bidirectional":
            inner = type(layer.forward_layer).__name__
            if inner in ("SimpleRNN", "GRU", "LSTM"):
                one = _rnn_flops(inner, layer.forward_layer.units, x)
                return (None if one is None else 2 * one), True
            return 0, False
        if cls in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
            cin = x[-1]
            steps = x[1]
            sp = out[1:-1] if layer.return_sequences else out[:-1]
            return _mul2(steps, product(sp), 4, layer.filters, product(layer.kernel_size), cin + layer.filters), True
        if cls == "BatchNormalization":
            return _mulc(2, product(x[1:])), True
        if cls in ("LayerNormalization", "GroupNormalization"):
            return _mulc(7, product(x[1:])), True
        if re.fullmatch(r"(Max|Average)Pooling[123]D", cls):
            return _mulc(product(layer.pool_size), product(out)), True
        if re.fullmatch(r"Global(Max|Average)Pooling[123]D", cls):
            return product(x[1:]), True
    except (AttributeError, TypeError, IndexError, ValueError):
        return 0, False
    return 0, False


def _mul2(*factors) -> int | None:
    p = product(factors)
    return None if p is None else 2 * p


def _mulc(c: int, n: int | None) -> int | None:
    return None if n is None else c * n


def _rnn_flops(cls: str, units: int, x: tuple) -> int | None:
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[cls]
    return _mul2(x[1], gates, units, x[-1] + units)
