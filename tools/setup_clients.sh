#!/usr/bin/env bash
# The QGIS side of the client tests (`make test-clients`, tests/clients/): idempotent, seconds once installed.
#
#   * QGIS 3.22 with its python bindings from Debian (bookworm: `qgis python3-qgis`), as root with apt-get;
#   * headless Chromium from Debian (`chromium-headless-shell`), which renders vnseg's HTML reports;
#   * into that system python (/usr/bin/python3), the Deepness plugin's own pinned requirements
#     (../shared/clients/deepness/src/deepness/python_requirements/requirements.txt: onnxruntime, opencv,
#     numpy < 2), with pip's --break-system-packages (the plugin runs in QGIS' python, not in a venv).
#
# Without root or apt-get (a user's machine) nothing is installed: it says so in one line and exits 0, and the
# client tests then skip with their reason; under CI=true that is an error (exit 1).
# Environment: VNSEG_QGIS_PYTHON (default /usr/bin/python3), VNSEG_DEEPNESS (the plugin's source folder).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VNSEG_QGIS_PYTHON:-/usr/bin/python3}
DEEPNESS=${VNSEG_DEEPNESS:-../shared/clients/deepness}
REQS=$DEEPNESS/src/deepness/python_requirements/requirements.txt
export QT_QPA_PLATFORM=offscreen DEBIAN_FRONTEND=noninteractive

give_up() {
    echo "setup_clients: $1; the client tests will skip" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
}

if ! "$PY" -c 'import qgis.core, qgis.gui' >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || give_up "QGIS is not installed and installing it needs root (apt-get install qgis python3-qgis)"
    command -v apt-get >/dev/null || give_up "QGIS is not installed and there is no apt-get to install it"
    echo "setup_clients: installing QGIS from Debian (apt-get install qgis python3-qgis; a few minutes)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qgis python3-qgis >/dev/null
    "$PY" -c 'import qgis.core, qgis.gui' || give_up "QGIS installed but $PY cannot import it"
fi

if ! command -v chromium-headless-shell >/dev/null && ! command -v chromium >/dev/null; then
    [ "$(id -u)" = 0 ] || give_up "headless Chromium is not installed and installing it needs root (apt-get install chromium-headless-shell)"
    command -v apt-get >/dev/null || give_up "headless Chromium is not installed and there is no apt-get to install it"
    echo "setup_clients: installing headless Chromium from Debian (apt-get install chromium-headless-shell)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
fi

[ -f "$REQS" ] || give_up "the Deepness plugin's requirements are missing: $REQS"
if ! "$PY" - "$REQS" <<'EOF' >/dev/null 2>&1
# exit 0 when every requirement of the file is installed in a version it allows
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if line:
        req = Requirement(line)
        try:
            if not req.specifier.contains(version(req.name), prereleases=True):
                sys.exit(1)
        except PackageNotFoundError:
            sys.exit(1)
EOF
then
    [ "$(id -u)" = 0 ] || give_up "Deepness' requirements are missing and installing them into $PY needs root"
    echo "setup_clients: installing Deepness' requirements into $PY ($REQS)"
    "$PY" -m pip install -q --break-system-packages --root-user-action=ignore -r "$REQS"
fi
"$PY" -c 'import qgis.core, onnxruntime, cv2; print("setup_clients: QGIS", qgis.core.Qgis.QGIS_VERSION,
"| onnxruntime", onnxruntime.__version__, "| opencv", cv2.__version__)'
