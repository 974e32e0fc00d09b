"""Peak memory of a process (vnseg.testing.memory): a child's own, whatever its parent holds."""
import json
import subprocess
import sys

import numpy as np
import pytest

from vnseg.testing.memory import peak_rss_mb, reset_peak_rss, rss_mb

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='VmHWM and clear_refs are Linux')

CHILD = ('import json, numpy as np; from vnseg.testing.memory import peak_rss_mb; a = np.ones(50 * 2**20 // 8); '
         'print(json.dumps(peak_rss_mb()))')


def test_a_child_of_a_large_process_reports_its_own_peak():
    held = np.ones(800 * 2**20 // 8)  # 800 MiB touched in this process
    assert peak_rss_mb() >= 800
    child = json.loads(subprocess.run([sys.executable, '-c', CHILD], capture_output=True, text=True,
                                      check=True).stdout)
    # its interpreter, numpy and the 50 MiB it touched: far below what its parent holds
    assert 50 < child < 400, child
    del held


def test_reset_starts_the_peak_again_from_now():
    big = np.ones(300 * 2**20 // 8)
    del big
    assert peak_rss_mb() - rss_mb() > 250  # the freed 300 MiB still count in the peak
    reset_peak_rss()
    assert peak_rss_mb() - rss_mb() < 50
