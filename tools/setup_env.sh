#!/usr/bin/env bash
# Idempotent set-up of the project's virtual environment (.venv in the repo).
#
# 1. a venv with setuptools<82 (mmengine's config inheritance and mmcv's build need pkg_resources);
# 2. torch/torchvision: kept if a working pair is already there (e.g. a CUDA build a user installed),
#    otherwise the registry's standard torch 2.13.0 + torchvision 0.28.0. `torch===2.13.0` (three '=')
#    selects that standard build: `torch==2.13.0` may resolve to a CPU-only file that has no working
#    torchvision. torch >= 2.14 breaks mmcv 2.1.0's C++17 build;
# 3. a constraints file pinning the installed torch pair, so no later install swaps it;
# 4. full mmcv 2.1.0 (compiled ops) built from source with --no-build-isolation against that torch:
#    long the first time (docs/install.md), seconds afterwards thanks to pip's wheel cache;
# 5. the rest of requirements/ and vnseg itself (editable).
#
# Progress: every step is a line "[setup <elapsed>] ..."; while a long step runs (the installs, the mmcv
# build) a heartbeat line comes every HEARTBEAT_S seconds (default 60) with the step's elapsed time and,
# for the mmcv build, how many of its C++/CUDA objects are compiled ("75 of 154 objects compiled"; the
# build's temporary files are kept in a private TMPDIR to count them). The last line gives the total time.
# The functions below can be sourced and tried on a short command (tests/test_setup_env.py):
#     source tools/setup_env.sh; HEARTBEAT_S=1 heartbeat 'a dummy step' sleep 3
#
# GPU switch, VNSEG_CUDA=1 (default `auto`: on when `nvidia-smi` lists a GPU; 0 forces the CPU path):
# mmcv is built with its CUDA ops by tools/setup_cuda_mmcv.sh, from the package registry alone (no system CUDA):
# the CUDA compiler wheels that match torch's CUDA version exactly, for TORCH_CUDA_ARCH_LIST (default: the visible
# GPU's compute capability, else the architectures torch itself was built for). See that script.

t0=${t0:-$(date +%s)}

# duration SECONDS -> "12m05s"
duration() { printf '%dm%02ds' $(( $1 / 60 )) $(( $1 % 60 )); }

say() { echo "[setup $(duration $(( $(date +%s) - t0 )))] $*"; }

# mmcv_progress DIR CUDA: "N of M objects compiled" of an mmcv build unpacked under DIR (M: the sources
# mmcv's setup.py compiles: csrc/pytorch/*.cpp and cpu/*.cpp, with CUDA also cuda/*.cu and cuda/*.cpp);
# nothing before pip has unpacked the sources (or when a cached wheel is installed without a build).
mmcv_progress() {
  local dir=$1 cuda=${2:-0} built total regex
  [ -d "$dir" ] || return 0
  regex='.*/mmcv/ops/csrc/pytorch/\(cpu/\)?[^/]*\.cpp'
  if [ "$cuda" = 1 ]; then regex='.*/mmcv/ops/csrc/pytorch/\(cpu/\|cuda/\)?[^/]*\.\(cpp\|cu\)'; fi
  total=$(find "$dir" -regex "$regex" -not -path '*/build/*' 2>/dev/null | wc -l)
  [ "$total" -gt 0 ] || return 0
  built=$(find "$dir" -path '*/build/*' -name '*.o' 2>/dev/null | wc -l)
  echo "$built of $total objects compiled"
}

# heartbeat LABEL CMD...: run CMD; every HEARTBEAT_S seconds (default 60) print "LABEL: running for <time>"
# (plus ", <PROGRESS output>" when PROGRESS names a command, e.g. "mmcv_progress DIR"), then
# "LABEL: done in <time>" or "LABEL: failed (exit N) after <time>". Returns CMD's exit status. CMD runs in
# the background (to keep the clock going): an interrupt of the set-up stops it too.
heartbeat() {
  local label=$1 start pid rc=0 next now extra
  shift
  start=$(date +%s)
  next=$(( start + ${HEARTBEAT_S:-60} ))
  "$@" &
  pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 130' INT TERM
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    now=$(date +%s)
    if [ "$now" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      extra=''
      if [ -n "${PROGRESS:-}" ]; then extra=$($PROGRESS 2>/dev/null || true); fi
      say "$label: running for $(duration $(( now - start )))${extra:+, $extra}"
      next=$(( now + ${HEARTBEAT_S:-60} ))
    fi
  done
  wait "$pid" || rc=$?
  trap - INT TERM
  if [ "$rc" -eq 0 ]; then
    say "$label: done in $(duration $(( $(date +%s) - start )))"
  else
    say "$label: failed (exit $rc) after $(duration $(( $(date +%s) - start )))"
  fi
  return "$rc"
}

torch_ok() {
  "$PY" - <<'PY' 2>/dev/null
import torch, torchvision
from torchvision.ops import nms
nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
PY
}

# build_mmcv CUDA CMD...: run the mmcv build CMD under a heartbeat with a private TMPDIR (where pip unpacks
# and compiles mmcv, so mmcv_progress can count its objects), removed afterwards.
build_mmcv() {
  local cuda=$1 build_tmp rc=0
  shift
  build_tmp=$(mktemp -d "${TMPDIR:-/tmp}/vnseg-mmcv-build.XXXXXX")
  TMPDIR=$build_tmp PROGRESS="mmcv_progress $build_tmp $cuda" heartbeat 'mmcv 2.1.0 build' "$@" || rc=$?
  rm -rf "$build_tmp"
  return "$rc"
}

main() {
  set -euo pipefail
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  t0=$(date +%s)
  VENV=${VENV:-.venv}
  PY="$VENV/bin/python"
  PIP=("$PY" -m pip --disable-pip-version-check -q)

  if [ ! -x "$PY" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  heartbeat 'pip, setuptools<82, wheel' "${PIP[@]}" install --upgrade pip "setuptools<82" wheel

  if ! torch_ok; then
    say "installing torch 2.13.0 + torchvision 0.28.0"
    heartbeat 'torch install' "${PIP[@]}" install "torch===2.13.0" "torchvision==0.28.0"
    torch_ok || { echo "torch/torchvision do not work after install" >&2; exit 1; }
  fi

  CONSTRAINTS="$VENV/constraints.txt"
  {
    cat requirements/constraints.txt
    "$PY" -c "import torch, torchvision; print('torch==' + torch.__version__.split('+')[0]); print('torchvision==' + torchvision.__version__.split('+')[0])"
  } > "$CONSTRAINTS"

  VNSEG_CUDA=${VNSEG_CUDA:-auto}
  if [ "$VNSEG_CUDA" = auto ]; then
    VNSEG_CUDA=0
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then VNSEG_CUDA=1; fi
  elif [ "$VNSEG_CUDA" != 0 ] && [ "$VNSEG_CUDA" != 1 ]; then
    echo "error: VNSEG_CUDA=$VNSEG_CUDA: use 1 (build mmcv with CUDA ops), 0 (CPU ops only) or auto" >&2; exit 2
  fi
  if [ "$VNSEG_CUDA" = 1 ]; then
    say "GPU switch on (VNSEG_CUDA=1): mmcv 2.1.0 with CUDA ops"
    build_mmcv 1 env VENV="$VENV" CONSTRAINTS="$CONSTRAINTS" bash tools/setup_cuda_mmcv.sh
  elif ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    say "building mmcv 2.1.0 with its compiled ops (first time ~30 min on 2 cores; cached afterwards)"
    build_mmcv 0 env MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" install --no-build-isolation -c "$CONSTRAINTS" \
      "mmcv==2.1.0"
    "$PY" -c "import mmcv.ops" || { echo "mmcv.ops does not import after the build" >&2; exit 1; }
  fi

  say "installing requirements"
  heartbeat 'requirements' "${PIP[@]}" install -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
  heartbeat 'vnseg (editable)' "${PIP[@]}" install --no-build-isolation --no-deps -e .
  say "done: set-up took $(duration $(( $(date +%s) - t0 )))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
