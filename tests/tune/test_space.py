"""builder.tune.space: spec search spaces → Keras Tuner hyperparameters, the grid size, the dry run."""

import re

import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main
from tune_specs import TUNE_SPEC


def test_space_maps_to_keras_tuner_with_conditional_scopes(write_spec):
    from builder.tune.space import grid_size, search_space

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    hp = search_space(spec.spaces)
    names = [h.name for h in hp.space]
    assert names == ["model.layers[1].dense.units", "model.layers[2]", "model.layers[2].choice[0].dropout", "lr"]
    dropout = hp.space[2]
    assert dropout.conditions and dropout.conditions[0].name == "model.layers[2]"
    assert hp.space[3].sampling == "log"
    # units 2 × (dropout option: 3 rates + batch-norm option: 1) × lr 3 (log step 10: 1e-3, 1e-2, 1e-1)
    assert grid_size(spec.spaces) == 2 * (3 + 1) * 3


def test_grid_needs_steps_and_objective_must_be_logged(write_spec):
    text = TUNE_SPEC.replace(", step: 10", "").replace("strategy: random", "strategy: grid")
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--dry-run"])
    assert result.exit_code == 2
    assert ":12:45: error: grid search needs a 'step' for float ranges" in result.output
    bad = TUNE_SPEC.replace("objective: val_accuracy", "objective: val_acuracy")
    result = CliRunner().invoke(main, ["validate", write_spec(bad, "bad")])
    assert result.exit_code == 2
    assert "objective 'val_acuracy' is not logged by this spec" in result.output
    assert "did you mean 'val_accuracy'?" in result.output


def test_dry_run_lists_space_with_lines_and_grid_size(write_spec):
    text = TUNE_SPEC.replace("strategy: random", "strategy: grid")
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert ":8: model.layers[1].dense.units: choice of 2: 4, 8" in result.output
    assert "grid size: 24" in result.output
    m = re.search(r"estimated duration: ([\d.]+) min, ([\d.]+) s per trial \(([\d.]+) s build \+ compile, "
                  r"([\d.]+) s tracing, then per epoch (\d+) training steps × (\d+) ms \+ (\d+) validation "
                  r"steps × (\d+) ms \+ (\d+) ms checkpoint\)\n  assumes every trial costs what the default spec costs", result.output)
    assert m, result.output
    total, per_trial, startup, tracing = map(float, m.groups()[:4])
    train_steps, train_ms, val_steps, val_ms, save_ms = map(int, m.groups()[4:])
    assert train_steps > 0 and val_steps > 0  # validation is part of every epoch's cost
    # The parts add up (to the printed rounding): start-up + tracing + epochs × (train + validation + save).
    epochs, trials = 2, 3  # tune_specs.TUNE_SPEC: fit.epochs, tune.max_trials (grid of 24 > 3)
    parts = startup + tracing + epochs * (train_steps * train_ms + val_steps * val_ms + save_ms) / 1000
    # printed to 0.1 s (three numbers: ±0.15 s) and to 1 ms (±0.5 ms a step)
    assert per_trial == pytest.approx(parts, abs=0.16 + epochs * (train_steps + val_steps + 1) * 0.0005)
    assert total == pytest.approx(per_trial * trials / 60, abs=0.06)
