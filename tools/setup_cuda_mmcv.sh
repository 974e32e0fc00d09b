#!/usr/bin/env bash
# Build and install mmcv 2.1.0 WITH its CUDA ops into an existing venv, from the package registry alone
# (no system CUDA toolkit, no GPU needed on the build machine). Called by tools/setup_env.sh when VNSEG_CUDA=1;
# needs VENV (holding a CUDA build of torch) and CONSTRAINTS (the venv's constraints file, extended here).
#
# 1. torch's CUDA version (torch.version.cuda) and the cuda-toolkit release that torch was installed with;
# 2. the compiler parts of exactly that release: `cuda-toolkit[nvcc,cccl]==<that release>` brings nvcc, the CCCL
#    headers (cuda_fp16.h needs nv/target), nvvm and crt. Every part must match torch's CUDA minor version: a newer
#    nvvm/crt emits PTX that the pinned ptxas rejects ("Unsupported .version"). Their exact versions are appended to
#    the constraints file. A user's own toolkit is used instead when CUDA_HOME is set (its nvcc must match);
# 3. the runtime wheel ships only libcudart.so.<major>; the linker's `-lcudart` needs libcudart.so, so a link to it
#    is made in a private directory, $VENV/vnseg-cuda/lib, put on LIBRARY_PATH (site-packages is left untouched);
# 4. architectures: TORCH_CUDA_ARCH_LIST if set, else the visible GPUs' compute capabilities (nvidia-smi), else
#    the architectures torch itself was built for (torch 2.13.0 CUDA 13.0: 7.5 8.0 8.6 9.0 10.0 12.0; each one
#    adds its CUDA compile);
# 5. the wheel is built with pip's cache OFF (`--no-cache-dir`): pip's wheel cache is keyed by the sdist, so a
#    cached CPU-only mmcv wheel would be silently reused for this build, or this one for a later CPU build.
#    The built wheel is kept instead in a directory named for its variant,
#    ${VNSEG_WHEEL_CACHE:-~/.cache/vnseg/wheels}/mmcv-2.1.0-torch<V>-cuda<V>-sm<archs>/, so a rebuilt venv
#    reinstalls it in seconds;
# 6. after installing, mmcv's compiled extension must report torch's CUDA version
#    (mmcv.ops.get_compiling_cuda_version()); otherwise the wheel is deleted and the set-up stops.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VENV:?VENV (the venv to install into) is not set}"
: "${CONSTRAINTS:=$VENV/constraints.txt}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
MMCV_VERSION=2.1.0
t0=$(date +%s)
say() { echo "[setup-cuda $(( $(date +%s) - t0 ))s] $*"; }
die() { echo "error: $*" >&2; exit 1; }

read -r TORCH_VERSION TORCH_CUDA CTK_VERSION SITE PYTAG < <("$PY" - <<'PY'
import sys, sysconfig
from importlib import metadata
import torch
try:
    ctk = metadata.version('cuda-toolkit')
except metadata.PackageNotFoundError:
    ctk = '-'
print(torch.__version__.split('+')[0], torch.version.cuda or '-', ctk, sysconfig.get_paths()['purelib'],
      f'cp{sys.version_info.major}{sys.version_info.minor}')
PY
)
[ -n "${TORCH_VERSION:-}" ] || die "$PY: torch does not import"
[ "$TORCH_CUDA" != - ] || die "$VENV: torch $TORCH_VERSION is a CPU-only build; the GPU switch needs a CUDA build of torch (remove $VENV and run the set-up again to get the registry's standard torch===2.13.0, CUDA 13.0)"
CUDA_MAJOR=${TORCH_CUDA%%.*}

pin_toolkit() {  # exact pins of the installed toolchain parts, so no later install moves one of them
  "$PY" - >> "$CONSTRAINTS" <<'PY'
from importlib import metadata
for name in ('cuda-toolkit', 'nvidia-cuda-nvcc', 'nvidia-cuda-cccl', 'nvidia-nvvm', 'nvidia-cuda-crt',
             'nvidia-cuda-runtime'):
    try:
        print(f'{name}=={metadata.version(name)}')
    except metadata.PackageNotFoundError:
        pass
PY
}
mmcv_cuda_version() {
  "$PY" -c "from mmcv.ops import get_compiling_cuda_version as v; print(v())" 2>/dev/null || echo none
}
if [ "$("$PY" -c "import mmcv; print(mmcv.__version__)" 2>/dev/null || true)" = "$MMCV_VERSION" ] \
   && [ "$(mmcv_cuda_version)" = "$TORCH_CUDA" ]; then
  pin_toolkit
  say "mmcv $MMCV_VERSION with CUDA $TORCH_CUDA ops is already installed"
  exit 0
fi

# --- 2. the CUDA compiler -----------------------------------------------------------------------------------
if [ -n "${CUDA_HOME:-}" ]; then
  say "using CUDA_HOME=$CUDA_HOME"
else
  [ "$CTK_VERSION" != - ] || die "$VENV: torch $TORCH_VERSION (CUDA $TORCH_CUDA) was not installed with the cuda-toolkit package, so the matching compiler wheels are unknown; set CUDA_HOME to a CUDA $TORCH_CUDA toolkit"
  [ "${CTK_VERSION%.*.*}" = "$TORCH_CUDA" ] || die "$VENV: cuda-toolkit $CTK_VERSION does not match torch's CUDA $TORCH_CUDA"
  say "installing the CUDA $TORCH_CUDA compiler: cuda-toolkit[nvcc,cccl]==$CTK_VERSION"
  "${PIP[@]}" install -c "$CONSTRAINTS" "cuda-toolkit[nvcc,cccl]==$CTK_VERSION"
  CUDA_HOME="$SITE/nvidia/cu$CUDA_MAJOR"
  pin_toolkit
fi
[ -x "$CUDA_HOME/bin/nvcc" ] || die "$CUDA_HOME/bin/nvcc: not found (CUDA_HOME must hold bin/nvcc)"
NVCC_RELEASE=$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
[ "$NVCC_RELEASE" = "$TORCH_CUDA" ] || die "$CUDA_HOME/bin/nvcc: CUDA $NVCC_RELEASE, but torch $TORCH_VERSION is built for CUDA $TORCH_CUDA"

# --- 3. libcudart.so for the linker --------------------------------------------------------------------------
LINK_DIR="$(cd "$VENV" && pwd)/vnseg-cuda/lib"  # absolute: the linker runs in pip's build folder, not here
if ! ls "$CUDA_HOME"/lib64/libcudart.so "$CUDA_HOME"/lib/libcudart.so >/dev/null 2>&1; then
  CUDART=$(ls "$CUDA_HOME"/lib/libcudart.so.* "$CUDA_HOME"/lib64/libcudart.so.* 2>/dev/null | head -n1 || true)
  [ -n "$CUDART" ] || die "$CUDA_HOME: no libcudart.so* in lib/ or lib64/"
  mkdir -p "$LINK_DIR"
  ln -sfn "$(cd "$(dirname "$CUDART")" && pwd)/$(basename "$CUDART")" "$LINK_DIR/libcudart.so"
fi

# --- 4. architectures ------------------------------------------------------------------------------------------
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
  TORCH_CUDA_ARCH_LIST=$( (nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true) \
                          | tr -d ' ' | grep -E '^[0-9]+\.[0-9]+$' | sort -u | paste -sd';' - || true)
  if [ -n "$TORCH_CUDA_ARCH_LIST" ]; then
    say "architectures of the visible GPUs: $TORCH_CUDA_ARCH_LIST"
  else
    TORCH_CUDA_ARCH_LIST=$("$PY" -c "import re, torch; print(';'.join(f'{m[1]}.{m[2]}' for m in re.finditer(r'\bsm_(\d+)(\d)\b', torch._C._cuda_getArchFlags())))")
    say "no GPU visible: building for torch's own architectures $TORCH_CUDA_ARCH_LIST (set TORCH_CUDA_ARCH_LIST to build fewer)"
  fi
fi
export TORCH_CUDA_ARCH_LIST

# --- 5. build (or reuse) the variant's wheel -------------------------------------------------------------------
ARCH_KEY=$(echo "$TORCH_CUDA_ARCH_LIST" | tr ' ;' '__' | tr -d '.' | tr '+' '-' | tr 'A-Z' 'a-z')
WHEEL_DIR="${VNSEG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vnseg/wheels}/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-cuda$TORCH_CUDA-sm$ARCH_KEY"
WHEEL=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-"$PYTAG"-*.whl 2>/dev/null | head -n1 || true)
if [ -n "$WHEEL" ]; then
  say "reusing $WHEEL"
else
  say "building mmcv $MMCV_VERSION with CUDA $TORCH_CUDA ops for $TORCH_CUDA_ARCH_LIST (one architecture: ~1 hour on 2 cores; each further one adds its CUDA compile)"
  BUILD_OUT=$(mktemp -d "${TMPDIR:-/tmp}/vnseg-mmcv-cuda.XXXXXX")
  trap 'rm -rf "$BUILD_OUT"' EXIT
  FORCE_CUDA=1 MMCV_WITH_OPS=1 CUDA_HOME="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH" \
  LIBRARY_PATH="$LINK_DIR${LIBRARY_PATH:+:$LIBRARY_PATH}" MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "${PIP[@]}" wheel --no-deps --no-build-isolation --no-cache-dir -w "$BUILD_OUT" "mmcv==$MMCV_VERSION"
  BUILT=$(ls "$BUILD_OUT"/mmcv-"$MMCV_VERSION"-*.whl)
  mkdir -p "$WHEEL_DIR"
  mv "$BUILT" "$WHEEL_DIR/.partial" && mv "$WHEEL_DIR/.partial" "$WHEEL_DIR/$(basename "$BUILT")"
  WHEEL="$WHEEL_DIR/$(basename "$BUILT")"
fi
"${PIP[@]}" install --no-deps --force-reinstall "$WHEEL"
"${PIP[@]}" install -c "$CONSTRAINTS" "$WHEEL"   # mmcv's own dependencies

# --- 6. the extension must report CUDA ---------------------------------------------------------------------------
GOT=$(mmcv_cuda_version)
if [ "$GOT" != "$TORCH_CUDA" ]; then
  rm -f "$WHEEL"
  die "$WHEEL: mmcv's compiled extension reports CUDA '$GOT', expected $TORCH_CUDA; the wheel is deleted, nothing reused"
fi
say "mmcv $MMCV_VERSION installed; mmcv.ops reports CUDA $GOT (architectures $TORCH_CUDA_ARCH_LIST)"
