"""The CLI: start-up without TensorFlow, exit codes, validate."""

import os
import subprocess
import sys

from click.testing import CliRunner

from builder.cli.main import main


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=False)
    return set(out.stdout.split())


def test_help_and_validate_do_not_import_tensorflow():
    help_mods = _modules_after(
        "from click.testing import CliRunner\nfrom builder.cli.main import main\n"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output")
    validate_mods = _modules_after(
        "from click.testing import CliRunner\nfrom builder.cli.main import main\n"
        "r = CliRunner().invoke(main, ['validate', 'specs/fashion_cnn.yaml']); assert r.exit_code == 0, r.output")
    for mods in (help_mods, validate_mods):
        assert "click" in mods  # the probe ran
        assert "tensorflow" not in mods and "keras" not in mods


def test_validate_ok_and_spec_error_exit_codes(write_spec):
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", "specs/resnet_small.yaml"])
    assert ok.exit_code == 0 and "ok (35 layers;" in ok.output
    # what validate leaves unchecked, and which command checks it
    assert "not checked here: layer shapes (dlbuild check) and the data (read by fit and tune)" in ok.output
    bad = write_spec("data: {dataset: iris}\nmodel: {inputs: {x: [4]}, layers: [dense: 3]}\ncompile: {loss: mse}\nfitt: {}\n")
    result = runner.invoke(main, ["validate", bad])
    assert result.exit_code == 2
    assert f"{bad}:4:1: error: unknown section 'fitt'; did you mean 'fit'?" in result.output
    assert "Traceback" not in result.output


def test_set_overrides_are_checked_like_the_spec():
    result = CliRunner().invoke(main, ["validate", "specs/iris_mlp.yaml", "--set", "fit.epochs=ten"])
    assert result.exit_code == 2
    assert "--set:1:12: error: 'epochs' must be an integer; received: 'ten'" in result.output


def test_usage_errors_exit_2():
    assert CliRunner().invoke(main, ["fit"]).exit_code == 2
    assert CliRunner().invoke(main, ["validate", "does/not/exist.yaml"]).exit_code == 2


BAD = "name: x\ndata: {dataset: iris}\nmodel:\n  inputs: {a: {shape: [4]}}\n  layers: [{dense: {unit: 3}}]\ncompile: {optimizer: adam, loss: mse}\n"


def test_errors_are_coloured_on_a_terminal_only(write_spec, monkeypatch):
    spec = write_spec(BAD)
    plain = CliRunner().invoke(main, ["validate", spec])  # not a terminal
    assert plain.exit_code == 2 and "\x1b[" not in plain.output
    assert "error: Dense() has no argument 'unit'" in plain.output
    tty = CliRunner().invoke(main, ["validate", spec], color=True)  # as a terminal sees it
    assert tty.exit_code == 2
    assert f"\x1b[1m{spec}:5:21: \x1b[0m\x1b[31m\x1b[1merror:\x1b[0m Dense() has no argument" in tty.output
    assert "\x1b[32m\x1b[1m^\x1b[0m" in tty.output  # the caret
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in CliRunner().invoke(main, ["validate", spec], color=True).output


def test_shell_completion_completes_commands_and_options():
    import os

    env = {**os.environ, "_DLBUILD_COMPLETE": "bash_complete", "COMP_WORDS": "dlbuild ex", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-m", "builder.cli"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and {"plain,explain", "plain,export"} <= set(out.stdout.split())
    env.update(COMP_WORDS="dlbuild fit --re", COMP_CWORD="2")
    out = subprocess.run([sys.executable, "-m", "builder.cli"], env=env, capture_output=True, text=True)
    assert "plain,--resume" in out.stdout.split()
    script = subprocess.run([sys.executable, "-m", "builder.cli"], capture_output=True, text=True,
                            env={**os.environ, "_DLBUILD_COMPLETE": "bash_source"})
    assert "complete -o nosort -F _dlbuild_completion dlbuild" in script.stdout


def test_tensorflow_start_up_chatter_is_hidden_unless_asked_for(write_spec):
    """absl's "All log messages before absl::InitializeLog()" and the CPU-feature notice are
    TensorFlow INFO/WARNING lines: hidden by default (errors still shown), shown with --tf-log."""
    spec = write_spec("""
        name: t
        data: {dataset: iris}
        model:
          inputs: {x: {shape: [4]}}
          layers: [{dense: {units: 3, activation: softmax}}]
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    """)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-m", "builder.cli", "check", spec], capture_output=True, text=True, env=env)
    loud = subprocess.run([sys.executable, "-m", "builder.cli", "--tf-log", "check", spec], capture_output=True,
                          text=True, env=env)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert "absl::InitializeLog" not in quiet.stderr and "cpu_feature_guard" not in quiet.stderr
    assert "absl::InitializeLog" in loud.stderr or "cpu_feature_guard" in loud.stderr
