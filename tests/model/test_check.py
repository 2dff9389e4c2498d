"""dlbuild check: per-layer table (lines, shapes, params, FLOPs, memory), warnings, --render."""

import click
import pytest
import yaml
from click.testing import CliRunner

from builder.model.check import check_spec, format_report
from builder.model.flops import layer_flops
from builder.model.lint import static_warnings
from builder.cli.tools import check_cmd
from builder.errors import SpecError
from builder.spec.load import load_spec


@click.group()
def cli():
    """Test group: the lead registers check_cmd in builder.cli.main."""


cli.add_command(check_cmd)

BASE = """
name: t
data: {{dataset: {dataset}}}
model:
  inputs: {{x: {{shape: {shape}}}}}
  layers:
{layers}
compile:
  optimizer: {optimizer}
  loss: {loss}
"""


def _spec(write_spec, layers, shape="[28, 28, 1]", dataset="fashion_mnist",
          loss="sparse_categorical_crossentropy", optimizer="adam"):
    body = "\n".join("    - " + line for line in layers)
    return write_spec(BASE.format(layers=body, shape=shape, dataset=dataset, loss=loss, optimizer=optimizer))


def _messages(path):
    return [w.message for w in static_warnings(load_spec(path))]


def test_table_rows_lines_shapes_params_and_flops(write_spec):
    path = _spec(write_spec, ["conv2d: {filters: 8, kernel_size: 3}",   # line 6
                              "max_pooling2d: 2",
                              "flatten",
                              "dense: {units: 10, activation: softmax}"])
    spec = load_spec(path)
    report = check_spec(spec)
    conv, pool, flat, dense = report.rows
    assert (conv.name, conv.layer, conv.line, conv.shape) == ("conv2d", "Conv2D", 6, "(None, 26, 26, 8)")
    assert conv.params == 3 * 3 * 1 * 8 + 8
    assert conv.flops == 2 * 26 * 26 * 8 * 9 * 1            # 2 · out positions · filters · k · cin
    assert conv.memory == 26 * 26 * 8 * 4                    # float32 bytes per sample
    assert pool.flops == 13 * 13 * 8 * 4                     # one compare per window element
    assert flat.flops == 0 and not flat.counted
    assert dense.flops == 2 * 13 * 13 * 8 * 10
    assert dense.line == 9
    assert report.total_params == conv.params + dense.params
    assert report.total_flops == conv.flops + pool.flops + dense.flops
    text = format_report(spec, report)
    assert "not counted for: Flatten" in text and "0 warnings" in text


def test_rnn_attention_and_norm_flops(write_spec):
    path = _spec(write_spec, ["lstm: {units: 4, return_sequences: true}",
                              "multi_head_attention: {num_heads: 2, key_dim: 3, inputs: [-1, -1]}",
                              "layer_normalization",
                              "batch_normalization",
                              "global_average_pooling1d",
                              "dense: 10"], shape="[5, 6]")
    rows = {r.layer: r for r in check_spec(load_spec(path)).rows}
    assert rows["LSTM"].flops == 2 * 5 * 4 * 4 * (6 + 4)
    t, d, h, k = 5, 4, 2, 3
    assert rows["MultiHeadAttention"].flops == 2 * (3 * t * d * h * k + t * h * k * d + h * t * t * (k + k))
    assert rows["LayerNormalization"].flops == 7 * t * d
    assert rows["BatchNormalization"].flops == 2 * t * d
    assert rows["GlobalAveragePooling1D"].flops == t * d


def test_depthwise_separable_and_einsum_flops():
    import keras

    x = keras.Input((8, 8, 4))
    dw = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    sep = keras.layers.SeparableConv2D(5, 3, padding="same")
    ein = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 7))
    y = dw(x)
    assert layer_flops(dw, [tuple(x.shape)], tuple(y.shape))[0] == 2 * 64 * 4 * 2 * 9
    z = sep(x)
    assert layer_flops(sep, [tuple(x.shape)], tuple(z.shape))[0] == 2 * 64 * 4 * 9 + 2 * 64 * 4 * 5
    s = keras.Input((6, 3))
    e = ein(s)
    assert layer_flops(ein, [tuple(s.shape)], tuple(e.shape))[0] == 2 * 6 * 3 * 7


@pytest.mark.parametrize("layers, loss, needle", [
    (["flatten", "dense: {units: 10, activation: sigmoid}"], "sparse_categorical_crossentropy",
     "sigmoid with a categorical"),
    (["flatten", "dense: {units: 12, activation: softmax}"], "sparse_categorical_crossentropy", "has 10 classes"),
    (["flatten", "dropout: 0.5", "batch_normalization", "dense: 10"], "mse", "directly before BatchNormalization"),
])
def test_warnings(write_spec, layers, loss, needle):
    msgs = _messages(_spec(write_spec, layers, loss=loss))
    assert any(needle in m for m in msgs), msgs


def test_softmax_with_from_logits_is_flagged(write_spec):
    """A warning here, unless validation already rejects it (builder.spec.consistency makes it an error)."""
    path = _spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"],
                 loss="{sparse_categorical_crossentropy: {from_logits: true}}")
    try:
        msgs = _messages(path)
    except SpecError as err:
        assert "from_logits" in str(err)
    else:
        assert any("applied twice" in m for m in msgs), msgs


def test_no_warnings_for_a_sound_spec(write_spec):
    assert _messages(_spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"])) == []
    # two classes: one sigmoid unit is fine
    assert _messages(_spec(write_spec, ["dense: {units: 1, activation: sigmoid}"], shape="[30]",
                           dataset="breast_cancer", loss="binary_crossentropy")) == []


def test_learning_rate_warning_points_at_the_value(write_spec):
    path = _spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"], optimizer="{adam: 3.0}")
    spec = load_spec(path)
    (w,) = static_warnings(spec)
    assert "learning rate 3" in w.message
    assert f"{path}:9:15:" in w.format(spec) and "warning:" in w.format(spec)
    sched = "{sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 1.0e-8, decay_steps: 10, decay_rate: 0.9}}}}"
    assert any("the schedule's highest learning rate 1e-08 (step 0)" in m
               for m in _messages(_spec(write_spec, ["flatten", "dense: 10"], optimizer=sched)))


def test_a_schedule_is_judged_by_the_rates_it_produces(write_spec):
    """A warm-up from 0 (vgg_fashion.yaml's pattern) peaks at its target: no warning; a warm-up
    whose target is 5.0 is flagged at the step it reaches it."""
    def warmup(target):
        return ("{adamw: {learning_rate: {cosine_decay: {initial_learning_rate: 0.0, decay_steps: 1000, "
                "warmup_target: " + target + ", warmup_steps: 100}}}}")
    assert _messages(_spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"],
                           optimizer=warmup("2.0e-3"))) == []
    (m,) = _messages(_spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"],
                           optimizer=warmup("5.0")))
    assert m.startswith("the schedule's highest learning rate 5 (step 100) is outside the usual range")


def test_recurrent_without_return_sequences_warns_even_though_the_build_fails(write_spec):
    path = _spec(write_spec, ["lstm: 8", "lstm: 4", "dense: 10"], shape="[5, 6]")
    r = CliRunner().invoke(cli, ["check", path])
    assert r.exit_code == 2
    assert "add return_sequences: true to 'lstm'" in r.output
    assert f"{path}:6:" in r.output  # the first LSTM's line


def test_huge_flatten_dense(write_spec):
    path = _spec(write_spec, ["flatten", "dense: 13000"], shape="[28, 28, 1]")  # 784 · 13000 > 10M
    report = check_spec(load_spec(path))
    assert any("Flatten → Dense" in w.message for w in report.warnings)


def test_cli_table_render_and_spec_error(write_spec):
    path = _spec(write_spec, ["flatten", "dense: {units: 10, activation: softmax}"])
    r = CliRunner().invoke(cli, ["check", path])
    assert r.exit_code == 0, r.output
    assert "output shape" in r.output and "(None, 784)" in r.output and "7,850" in r.output
    r = CliRunner().invoke(cli, ["check", path, "--render", "--set", "fit.epochs=3"])
    assert r.exit_code == 0, r.output
    rendered = yaml.safe_load(r.output)
    assert rendered["fit"]["epochs"] == 3 and rendered["fit"]["batch_size"] == 32  # defaults filled in
    assert rendered["data"]["validation_split"] == 0.1
    bad = _spec(write_spec, ["dense: {unit: 10}"])
    r = CliRunner().invoke(cli, ["check", bad])
    assert r.exit_code == 2 and "did you mean 'units'" in r.output


@pytest.mark.parametrize("path", ["specs/fashion_cnn.yaml", "specs/resnet_small.yaml", "specs/vgg_fashion.yaml",
                                  "docs/examples/blocks.yaml"])
def test_shipped_specs_check_cleanly(path):
    spec = load_spec(path)
    report = check_spec(spec)
    assert report.rows and report.total_params > 0 and report.total_flops > 0
    assert report.warnings == []
