"""The command line hides the libraries' notices about what vnseg handles and reports itself (an image
without georeferencing, a layer without a CRS); vnseg's own warnings stay, and tests and library users
(no :func:`vnseg.commands.cli.quiet_third_party_warnings`) see every warning. The OpenMMLab notices:
tests/data/test_gsd.py; the demo's output: tests/test_demo.py."""
import os
import subprocess
import sys

from conftest import REPO

CODE = '''
import sys, warnings
import numpy as np
from PIL import Image
if sys.argv[1] == 'command line':
    from vnseg.commands.cli import quiet_third_party_warnings
    quiet_third_party_warnings()
folder = sys.argv[2]
Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder + '/plain.png')
import pyogrio.raw, rasterio, shapely
with rasterio.open(folder + '/plain.png') as ds:
    print(ds.transform.is_identity)
pyogrio.raw.write(folder + '/plain.gpkg', shapely.to_wkb(np.array([shapely.box(0, 0, 1, 1)], dtype=object)),
                  [np.array([1], np.int32)], ['class_id'], layer='plain', driver='GPKG', geometry_type='Polygon',
                  crs=None)
warnings.warn('vnseg: plain.png is grayscale, converted to RGB')
'''
NOTICES = ('NotGeoreferencedWarning', "'crs' was not provided")


def run(mode, folder, **env):
    env = dict({k: v for k, v in os.environ.items() if k not in ('PYTHONWARNINGS', 'VNSEG_SHOW_WARNINGS')},
               PYTHONPATH=str(REPO), **env)
    proc = subprocess.run([sys.executable, '-c', CODE, mode, str(folder)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ['True'], proc.stderr[-2000:]
    return proc.stderr


def test_command_line_hides_the_georeferencing_notices_only(tmp_path):
    library = run('library', tmp_path)
    command_line = run('command line', tmp_path)
    shown = run('command line', tmp_path, VNSEG_SHOW_WARNINGS='1')
    for notice in NOTICES:
        assert notice in library and notice in shown, library
        assert notice not in command_line, command_line
    for stderr in (library, command_line, shown):
        assert 'plain.png is grayscale, converted to RGB' in stderr  # vnseg's own warning stays
