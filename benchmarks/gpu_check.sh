#!/usr/bin/env bash
# One-shot checks of vnseg on a lent GPU machine (Python 3.12 + torch with CUDA; no mmcv/mmseg, no package
# registry, 15 minutes in all). A developer's check, not part of vnseg. What each step checks and what cannot
# be checked: docs/gpu.md, "benchmarks/gpu_check.sh".
#
# 1. Here, in the full environment (make setup), prepare the folder to carry (about 40 MB; ignored by git):
#        bash benchmarks/gpu_check.sh --prepare [--checkpoint CKPT] [--wheel numpy]   # -> work_dirs/gpu_check/
#    (--wheel SPEC...: wheels for CPython 3.12 manylinux downloaded from the registry here, unpacked there:
#    numpy, ~16 MB, makes the sliding-window step possible on a machine without numpy; the ONNX step needs
#    onnxruntime too, whose CUDA build, onnxruntime-gpu, is ~300 MB: too big to carry.)
# 2. There, from the repository root, with the folder carried (run tool: carry=["work_dirs/gpu_check"]):
#        bash benchmarks/gpu_check.sh --out "$OUT" [--budget 480] [--steps "env traced_model"]
#    Every step runs in its own process under `timeout`, within the budget (seconds, default 480: the
#    machine's start and the transfers take the rest of the 15 minutes); each writes OUT/steps/STEP.json
#    and OUT/steps/STEP.log; OUT/gpu_check.json and OUT/gpu_check.md sum them up. Exit 0 when every step
#    is ok or skipped. --steps runs only the steps named (the others keep their earlier results).
# 3. Here, the same steps on CPU with a tiny model, in seconds (tests/benchmarks/test_gpu_check.py runs it):
#        bash benchmarks/gpu_check.sh --dry-run [--out DIR]
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
DIR=work_dirs/gpu_check
OUT="${OUT:-work_dirs/gpu_check_out}"
BUDGET=480
MODE=check
PREPARE_ARGS=()
DIR_GIVEN=0
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prepare) MODE=prepare ;;
        --dry-run) MODE=dry-run ;;
        --dir) DIR="$2"; DIR_GIVEN=1; shift ;;
        --out) OUT="$2"; shift ;;
        --budget) BUDGET="$2"; shift ;;
        --steps) ONLY=" $2 "; shift ;;
        --checkpoint|--config|--tile) PREPARE_ARGS+=("$1" "$2"); shift ;;
        --tiny|--no-onnx) PREPARE_ARGS+=("$1") ;;
        --wheel) shift; PREPARE_ARGS+=(--wheel); while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do
                     PREPARE_ARGS+=("$1"); shift; done; continue ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see $0 --help)" >&2; exit 2 ;;
    esac
    shift
done

# The python: the venv's here (prepare, dry run), the machine's own there (PYTHON overrides).
if [ -z "${PYTHON:-}" ]; then
    if [ "$MODE" != check ] && [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
STEPS_SCRIPT=benchmarks/gpu_check.py

if [ "$MODE" = prepare ]; then
    exec "$PYTHON" "$STEPS_SCRIPT" prepare --dir "$DIR" ${PREPARE_ARGS[@]+"${PREPARE_ARGS[@]}"}
fi

mkdir -p "$OUT/steps"
DRY=()
if [ "$MODE" = dry-run ]; then
    DRY=(--dry-run)
    if [ "$DIR_GIVEN" = 0 ]; then   # a tiny model, prepared into the output folder
        DIR="$OUT/prepared"
        if [ ! -f "$DIR/manifest.json" ]; then
            timeout 300 "$PYTHON" "$STEPS_SCRIPT" prepare --tiny --dir "$DIR" > "$OUT/prepare.log" 2>&1 \
                || { echo "error: the tiny prepare failed, see $OUT/prepare.log" >&2; exit 1; }
        fi
    fi
fi

# Carried wheels: unpacked once into DIR/site (a wheel is a zip; no pip needed), put on the path.
if ls "$DIR"/wheels/*.whl > /dev/null 2>&1; then
    if [ ! -d "$DIR/site" ]; then
        "$PYTHON" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
            "$DIR/site" "$DIR"/wheels/*.whl || echo "warning: could not unpack $DIR/wheels" >&2
    fi
    export PYTHONPATH="$PYTHONPATH:$(cd "$DIR/site" && pwd)"   # after the machine's own packages
fi

START=$(date +%s)
# step and its time limit in seconds, in order of importance (a step starts only with time left for it)
STEPS=("env 60" "torch_ops 90" "traced_model 150" "onnx 120" "train_step 150" "sliding 120")
for entry in "${STEPS[@]}"; do
    set -- $entry
    step=$1 limit=$2
    if [ -n "$ONLY" ] && [ "${ONLY/ $step /}" = "$ONLY" ]; then continue; fi
    left=$(( BUDGET - ($(date +%s) - START) - 20 ))   # 20 s kept for the summary
    if [ "$left" -lt 15 ]; then
        printf '{"status": "not run", "reason": "budget of %s s spent"}\n' "$BUDGET" > "$OUT/steps/$step.json"
        continue
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $step (limit ${limit} s)"
    rm -f "$OUT/steps/$step.json"
    timeout -k 5 "$limit" "$PYTHON" "$STEPS_SCRIPT" "$step" --dir "$DIR" --out "$OUT" ${DRY[@]+"${DRY[@]}"} \
        > "$OUT/steps/$step.log" 2>&1
    rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        printf '{"status": "fail", "error": "timed out after %s s"}\n' "$limit" > "$OUT/steps/$step.json"
    elif [ ! -f "$OUT/steps/$step.json" ]; then
        printf '{"status": "fail", "error": "exit %s without a result (see steps/%s.log)"}\n' "$rc" "$step" \
            > "$OUT/steps/$step.json"
    fi
    tail -n 1 "$OUT/steps/$step.log" | cut -c1-300
done
timeout 60 "$PYTHON" "$STEPS_SCRIPT" summary --dir "$DIR" --out "$OUT" ${DRY[@]+"${DRY[@]}"}
