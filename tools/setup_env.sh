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
#    ~20 minutes on 2 cores the first time, seconds afterwards thanks to pip's wheel cache;
# 5. the rest of requirements/ and vnseg itself (editable).
#
# GPU switch, VNSEG_CUDA=1 (default `auto`: on when `nvidia-smi` lists a GPU; 0 forces the CPU path):
# mmcv is built with its CUDA ops by tools/setup_cuda_mmcv.sh, from the package registry alone (no system CUDA):
# the CUDA compiler wheels that match torch's CUDA version exactly, for TORCH_CUDA_ARCH_LIST (default: the visible
# GPU's compute capability, else the architectures torch itself was built for). See that script.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
t0=$(date +%s)
say() { echo "[setup $(( $(date +%s) - t0 ))s] $*"; }

if [ ! -x "$PY" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
"${PIP[@]}" install --upgrade pip "setuptools<82" wheel

torch_ok() {
  "$PY" - <<'PY' 2>/dev/null
import torch, torchvision
from torchvision.ops import nms
nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
PY
}
if ! torch_ok; then
  say "installing torch 2.13.0 + torchvision 0.28.0"
  "${PIP[@]}" install "torch===2.13.0" "torchvision==0.28.0"
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
  VENV="$VENV" CONSTRAINTS="$CONSTRAINTS" bash tools/setup_cuda_mmcv.sh
elif ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  say "building mmcv 2.1.0 with its compiled ops (first time ~20 min on 2 cores; cached afterwards)"
  MAX_JOBS=${MAX_JOBS:-$(nproc)} "${PIP[@]}" install --no-build-isolation -c "$CONSTRAINTS" "mmcv==2.1.0"
  "$PY" -c "import mmcv.ops" || { echo "mmcv.ops does not import after the build" >&2; exit 1; }
fi

say "installing requirements"
"${PIP[@]}" install -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
"${PIP[@]}" install --no-build-isolation --no-deps -e .
say "done"
