"""tools/setup_env.sh says what it does: heartbeat lines while a long step runs, mmcv's compile progress,
the final time. Its functions are sourced into a bash that runs them on short dummy commands (the real
mmcv build takes long and is never run here)."""
import re
import shutil
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / 'tools' / 'setup_env.sh'

pytestmark = pytest.mark.skipif(shutil.which('bash') is None, reason='needs bash')


def _bash(code, **env):
    out = subprocess.run(['bash', '-c', f'source {SCRIPT}\n{code}'], capture_output=True, text=True, timeout=120,
                         env={'PATH': '/usr/bin:/bin', **env})
    return out.returncode, out.stdout, out.stderr


def test_the_script_parses_and_sourcing_it_runs_nothing():
    assert subprocess.run(['bash', '-n', str(SCRIPT)]).returncode == 0
    rc, out, err = _bash('type main heartbeat mmcv_progress build_mmcv >/dev/null && echo sourced')
    assert (rc, out, err) == (0, 'sourced\n', '')  # no set-up step ran, nothing printed


def test_heartbeat_reports_a_running_step_and_its_end():
    rc, out, _ = _bash("heartbeat 'dummy step' sleep 3", HEARTBEAT_S='1')
    assert rc == 0
    lines = out.splitlines()
    beats = [ln for ln in lines[:-1] if re.fullmatch(r'\[setup \d+m\d\ds\] dummy step: running for 0m0\ds', ln)]
    assert beats and len(beats) == len(lines) - 1  # at least one heartbeat during a 3 s step at 1 s, nothing else
    assert re.fullmatch(r'\[setup \d+m\d\ds\] dummy step: done in 0m0[3-9]s', lines[-1])


def test_heartbeat_shows_progress_and_passes_the_exit_status_on():
    rc, out, _ = _bash("heartbeat 'build' bash -c 'sleep 2; exit 3'", HEARTBEAT_S='1',
                       PROGRESS='echo 7 of 9 objects compiled')
    assert rc == 3
    lines = out.splitlines()
    assert all(ln.endswith(', 7 of 9 objects compiled') for ln in lines[:-1]) and len(lines) >= 2
    assert re.fullmatch(r'\[setup \d+m\d\ds\] build: failed \(exit 3\) after 0m0\ds', lines[-1])


def test_a_fast_step_gets_no_heartbeat():
    rc, out, _ = _bash("heartbeat 'quick' true", HEARTBEAT_S='60')
    assert rc == 0 and len(out.splitlines()) == 1 and 'quick: done in 0m0' in out


def test_mmcv_progress_counts_objects_of_the_sources_setup_py_compiles(tmp_path):
    src = tmp_path / 'pip-install-x' / 'mmcv_1'
    csrc = src / 'mmcv' / 'ops' / 'csrc' / 'pytorch'
    for rel in ('nms.cpp', 'roi_align.cpp', 'cpu/nms_cpu.cpp', 'cuda/nms_cuda.cu', 'cuda/cudabind.cpp',
                'npu/nms_npu.cpp'):
        (csrc / rel).parent.mkdir(parents=True, exist_ok=True)
        (csrc / rel).write_text('')
    assert _bash(f'mmcv_progress {tmp_path} 0')[1] == '0 of 3 objects compiled\n'  # unpacked, none built yet
    objects = src / 'build' / 'temp.linux-x86_64-cpython-311' / 'mmcv' / 'ops' / 'csrc' / 'pytorch'
    objects.mkdir(parents=True)
    (objects / 'nms.o').write_text('')
    (objects / 'roi_align.o').write_text('')
    assert _bash(f'mmcv_progress {tmp_path} 0')[1] == '2 of 3 objects compiled\n'  # CPU: *.cpp, cpu/*.cpp
    assert _bash(f'mmcv_progress {tmp_path} 1')[1] == '2 of 5 objects compiled\n'  # CUDA: + cuda/*.cu|cpp
    assert _bash(f'mmcv_progress {tmp_path / "none"} 0') == (0, '', '')  # before pip unpacked mmcv
