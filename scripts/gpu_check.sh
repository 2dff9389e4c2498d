#!/usr/bin/env bash
# Check dlbuild's GPU paths end to end on this machine, in one command (docs/distributed.md,
# "Checking a GPU machine"). From a clone, in an active venv with TensorFlow installed for the GPU
# (pip install -e ".[gpu]": docs/distributed.md, "Installing for a GPU"):
#
#   bash scripts/gpu_check.sh            # the real check: 2-epoch fits of specs/fashion_cnn.yaml
#   QUICK=1 bash scripts/gpu_check.sh    # shortened (1,280 training samples): tests the script itself
#   KEEP=1 bash scripts/gpu_check.sh     # keep the temporary directory (run directories, logs)
#
# Steps: dlbuild doctor --json; the GPUs TensorFlow sees; a mirrored fit; a 2-trial tune (and
# --workers 2 with 2+ GPUs); the train-step time on CPU (CUDA_VISIBLE_DEVICES=) and on GPU; float32
# vs mixed_float16 (step time, val accuracy). It goes on after a failure, prints one table
# (step | result | seconds | notes) and exits 1 if a step failed (2: it could not start).
# Everything is written under one `mktemp -d` directory, never into the repository; the number
# crunching is scripts/gpu_check.py. Without a GPU it still runs: GPU-only rows say "no GPU: skipped",
# the others run on the CPU and say so.
set -u

case "${1:-}" in
  -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "gpu_check: no arguments expected (got '$1'); see --help" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || exit 2
HELPER="$REPO/scripts/gpu_check.py"
SPEC="$REPO/specs/fashion_cnn.yaml"
TUNE_SPEC="$REPO/docs/examples/coarse_to_fine.yaml"
QUICK="${QUICK:-0}"
KEEP="${KEEP:-0}"
EPOCHS=2           # epoch 1 includes tracing; epoch 2 is the one timed
TRIALS=2
PYTHON="${PYTHON:-python}"

if ! command -v dlbuild >/dev/null 2>&1; then
  echo "gpu_check: dlbuild is not on PATH: activate the venv (. .venv/bin/activate) after pip install -e ".[gpu]" (docs/distributed.md)" >&2
  exit 2
fi
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

FIT_EXTRA=()
QUICK_FLAG=()
if [[ "$QUICK" == 1 ]]; then
  FIT_EXTRA=(--set data.max_train_samples=1280)   # 10 steps of 128 per epoch instead of 71
  QUICK_FLAG=(--quick)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")" || { echo "gpu_check: mktemp -d failed" >&2; exit 2; }
ROWS="$WORK/rows.jsonl"

cleanup() {
  if [[ "$KEEP" == 1 ]]; then
    echo "gpu_check: outputs kept in $WORK" >&2
  else
    rm -rf -- "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "gpu_check: interrupted" >&2; exit 130' INT TERM
cd "$WORK" || exit 2   # so that nothing, not even a relative path, lands in the repository

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s)}"; }
say() { printf 'gpu_check: %s\n' "$*" >&2; }
helper() { "$PYTHON" "$HELPER" "$@" --rows "$ROWS"; }
# run LOG CMD...: run CMD with stdout and stderr in LOG; sets STARTED (Unix time) and RC.
run() {
  local log="$1"; shift
  STARTED="$(now)"
  "$@" >"$log" 2>&1
  RC=$?
}
fit() {  # fit NAME [--set ...]...: a 2-epoch fit of the default spec into $WORK/NAME
  local name="$1"; shift
  dlbuild fit "$SPEC" --out "$WORK/$name" --epochs "$EPOCHS" -q "$@" ${FIT_EXTRA[@]+"${FIT_EXTRA[@]}"}
}

TOTAL_STARTED="$(now)"
say "outputs in $WORK$([[ "$QUICK" == 1 ]] && echo ' (QUICK=1: shortened)')"

say "[1/9] dlbuild doctor --json"
STARTED="$(now)"
dlbuild doctor --json >"$WORK/doctor.json" 2>"$WORK/doctor.err"
RC=$?
if [[ $RC -ne 0 ]] && grep -q "No such command" "$WORK/doctor.err"; then
  say "doctor: not available"
fi
helper doctor --started "$STARTED" --rc "$RC" --stdout "$WORK/doctor.json" --stderr "$WORK/doctor.err"

say "[2/9] GPUs TensorFlow sees"
NGPU="$(helper gpus --started "$(now)" --doctor "$WORK/doctor.json" 2>"$WORK/gpus.log")"
[[ "$NGPU" =~ ^[0-9]+$ ]] || NGPU=0
ON_CPU=""
[[ "$NGPU" -eq 0 ]] && ON_CPU="no GPU: ran on CPU"
say "      $NGPU GPU(s)"

say "[3/9] fit, distribute.strategy=mirrored"
run "$WORK/mirrored.log" fit mirrored --set distribute.strategy=mirrored
helper fit --step "fit mirrored" --run "$WORK/mirrored" --rc "$RC" --log "$WORK/mirrored.log" \
  --started "$STARTED" --expect-replicas "$(( NGPU > 0 ? NGPU : 1 ))" --note "$ON_CPU"

say "[4/9] tune, $TRIALS trials"
run "$WORK/tune.log" dlbuild tune "$TUNE_SPEC" --max-trials "$TRIALS" --no-retrain --out "$WORK/tune"
helper tune --step "tune" --dir "$WORK/tune" --trials "$TRIALS" --rc "$RC" --log "$WORK/tune.log" \
  --started "$STARTED" --note "$ON_CPU"

say "[5/9] tune --workers 2"
if [[ "$NGPU" -ge 2 ]]; then
  run "$WORK/tune_workers.log" dlbuild tune "$TUNE_SPEC" --max-trials "$TRIALS" --no-retrain --workers 2 \
    --out "$WORK/tune_workers"
  helper tune --step "tune --workers 2" --dir "$WORK/tune_workers" --trials "$TRIALS" --rc "$RC" \
    --log "$WORK/tune_workers.log" --started "$STARTED"
else
  helper skip --step "tune --workers 2" --reason "needs 2 GPUs ($NGPU here): skipped"
fi

say "[6/9] step time on CPU (CUDA_VISIBLE_DEVICES=)"
run "$WORK/cpu.log" env CUDA_VISIBLE_DEVICES= dlbuild fit "$SPEC" --out "$WORK/cpu" \
  --epochs "$EPOCHS" -q --set distribute.strategy=default --set fit.mixed_precision=none \
  ${FIT_EXTRA[@]+"${FIT_EXTRA[@]}"}
CPU_RC=$RC
helper fit --step "step time CPU" --run "$WORK/cpu" --rc "$RC" --log "$WORK/cpu.log" --started "$STARTED" \
  --expect-replicas 1 --note "CUDA_VISIBLE_DEVICES= (no GPU visible)"

say "[7/9] step time on GPU"
if [[ "$NGPU" -ge 1 ]]; then
  # float32 on purpose: the default fit.mixed_precision: auto would pick float16 on a recent GPU
  run "$WORK/gpu.log" fit gpu --set distribute.strategy=default --set fit.mixed_precision=none
  FP32="$WORK/gpu" FP32_RC=$RC FP32_LOG="$WORK/gpu.log" FP32_FROM="the run of 'step time GPU'"
  helper fit --step "step time GPU" --run "$WORK/gpu" --rc "$RC" --log "$WORK/gpu.log" --started "$STARTED" \
    --expect-replicas 1 --compare "$WORK/cpu" --compare-label CPU
else
  FP32="$WORK/cpu" FP32_RC=$CPU_RC FP32_LOG="$WORK/cpu.log" FP32_FROM="the run of 'step time CPU'; $ON_CPU"
  helper skip --step "step time GPU" --reason "no GPU: skipped"
fi

say "[8/9] precision float32 (mixed_precision: none)"
helper fit --step "precision float32" --run "$FP32" --rc "$FP32_RC" --log "$FP32_LOG" \
  --expect-precision none --note "$FP32_FROM"

say "[9/9] precision mixed_float16"
run "$WORK/mixed.log" fit mixed --set distribute.strategy=default --set fit.mixed_precision=mixed_float16
helper fit --step "precision mixed_float16" --run "$WORK/mixed" --rc "$RC" --log "$WORK/mixed.log" \
  --started "$STARTED" --expect-precision mixed_float16 --compare "$FP32" --compare-label float32 \
  --note "${ON_CPU:+$ON_CPU (float16 is not faster on a CPU)}"

helper table --started "$TOTAL_STARTED" ${QUICK_FLAG[@]+"${QUICK_FLAG[@]}"}
exit $?
