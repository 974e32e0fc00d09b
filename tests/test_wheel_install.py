"""The light install, as a GIS user gets it: vnseg's wheel in a fresh venv outside the checkout, then
``vnseg map model.onnx mosaic.tif out/`` on a real GeoTIFF, with no torch and no OpenMMLab there. The wheel
holds the product only: vnseg's package, without the lab (benchmarks, the demo, tests, checks of other
machines, the generated scenes of :mod:`vnseg.testing`).

No package registry is reached: the wheel is built from this checkout, and the fresh venv sees only the
distributions the wheel declares (``Requires-Dist``, followed recursively), linked from this
environment's site-packages into a folder of its own. A dependency the wheel forgot to declare is
then missing there, and the test fails.
"""
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from tiny_onnx import export_tiny_onnx, kampala_crop

rasterio = pytest.importorskip('rasterio')
pytest.importorskip('onnxruntime')

HEAVY = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmseg', 'mmpretrain')


def _requirement_names(requires):
    """Distribution names of ``Requires-Dist`` lines that apply without extras on this Python."""
    from packaging.requirements import Requirement
    names = []
    for line in requires or ():
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({'extra': ''}):
            names.append(req.name)
    return names


def _closure(names):
    """Every installed distribution that ``names`` need, themselves included (canonical names)."""
    seen, todo = {}, list(names)
    while todo:
        name = re.sub(r'[-_.]+', '-', todo.pop()).lower()
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        todo += _requirement_names(dist.requires)
    return seen


def _link_site(dists, site: Path):
    """Symlink the top-level files and folders of ``dists`` (from their site-packages) into ``site``."""
    site.mkdir()
    for dist in dists.values():
        root = Path(dist.locate_file(''))
        for top in {Path(f).parts[0] for f in dist.files or () if not str(f).startswith('..')}:
            target = site / top
            if (root / top).exists() and not target.exists():
                target.symlink_to(root / top)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """vnseg's wheel, built from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp('wheel')
    source = tmp / 'source'  # setuptools builds in the source tree: a copy keeps the checkout clean
    for name in ('requirements', 'vnseg'):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('setup.py', 'README.md'):
        shutil.copy2(REPO / name, source / name)
    dist_dir = tmp / 'dist'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(dist_dir), str(source)], check=True, capture_output=True, timeout=300)
    built, = dist_dir.glob('vnseg-*.whl')
    return built


@pytest.fixture(scope='module')
def light_venv(wheel, tmp_path_factory):
    """A fresh venv with vnseg's wheel installed and only its declared dependencies visible."""
    tmp = tmp_path_factory.mktemp('venv')
    with zipfile.ZipFile(wheel) as zf:
        meta_name, = (n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        requires = [line.split(':', 1)[1].strip() for line in zf.read(meta_name).decode().splitlines()
                    if line.startswith('Requires-Dist:')]
        entry_points = zf.read(meta_name.replace('METADATA', 'entry_points.txt')).decode()
    assert 'vnseg = vnseg.commands:main' in entry_points
    declared = _requirement_names(requires)
    assert not set(declared) & set(HEAVY), declared  # the core is light; the stack is the `train` extra
    venv = tmp / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=120)
    py = venv / 'bin' / 'python'
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '--no-deps', '--no-index', '-q',
                    str(wheel)], check=True, capture_output=True, timeout=300)
    site = tmp / 'light-site'
    _link_site(_closure(declared), site)
    purelib = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, 'light_dependencies.pth').write_text(f'{site}\n')
    return venv


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env['OMP_NUM_THREADS'] = '1'
    return env


def test_wheel_venv_has_no_torch_and_vnseg_from_the_wheel(light_venv, tmp_path):
    py = light_venv / 'bin' / 'python'
    probe = ('import importlib.util, vnseg; '
             f'print(vnseg.__file__); print([m for m in {HEAVY!r} if importlib.util.find_spec(m)])')
    out = subprocess.run([str(py), '-c', probe], capture_output=True, text=True, env=_env(), cwd=tmp_path,
                         check=True).stdout.splitlines()
    assert str(light_venv) in out[0] and str(REPO) not in out[0]  # the installed copy, not the checkout
    assert out[1] == '[]'
    help_text = subprocess.run([str(light_venv / 'bin' / 'vnseg'), '--help'], capture_output=True, text=True,
                               env=_env(), cwd=tmp_path, check=True).stdout
    for name in ('map', 'train', 'prepare', 'export'):
        assert f'\n  {name} ' in help_text


def test_vnseg_map_onnx_on_a_real_geotiff_from_the_wheel(light_venv, tmp_path):
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    crop = kampala_crop(tmp_path / 'mosaic.tif')
    _, onnx_path = export_tiny_onnx(tmp_path, crop)
    work = tmp_path / 'elsewhere'
    work.mkdir()
    proc = subprocess.run([str(light_venv / 'bin' / 'vnseg'), 'map', str(onnx_path), str(crop), 'out',
                           '--no-progress'], capture_output=True, text=True, env=_env(), cwd=work, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for suffix in ('_classes.tif', '_confidence.tif', '_preview.png', '_areas.csv', '_report.html', '.gpkg'):
        assert (work / 'out' / f'mosaic{suffix}').is_file(), suffix
    ref = infer_large_image(onnx_path, None, crop, tmp_path / 'ref', WindowOptions(tile=128),
                            outputs=OutputOptions(preview=False, polygons=False), progress=False)
    with rasterio.open(work / 'out' / 'mosaic_classes.tif') as a, rasterio.open(ref.class_map) as b:
        assert a.crs == b.crs and a.transform == b.transform
        assert np.array_equal(a.read(1), b.read(1))


def test_wheel_holds_the_product_only(wheel):
    """Every file of the wheel is vnseg's package or its metadata; no generated test scenes, no script that
    reaches outside the package through ``sys.path`` (it fails in an installed wheel), and every module of
    ``vnseg/commands/`` with a ``main`` is a ``vnseg`` subcommand."""
    from vnseg.commands import COMMANDS
    with zipfile.ZipFile(wheel) as zf:
        files = {name: zf.read(name).decode('utf-8', 'replace') for name in zf.namelist()}
    modules = sorted(n for n in files if n.endswith('.py'))
    assert len(modules) > 100 and 'vnseg/commands/map.py' in modules and 'vnseg/inference/sliding.py' in modules
    outside = [n for n in files if not n.startswith('vnseg/') and not re.match(r'vnseg-[^/]+\.dist-info/', n)]
    assert outside == []
    assert [n for n in modules if n.startswith('vnseg/testing/')] == []
    assert [n for n in modules if re.search(r'sys\.path\.(insert|append)', files[n])] == []
    subcommands = {module for module, _, _ in COMMANDS.values()}
    commands = [n for n in modules if n.startswith('vnseg/commands/') and n.count('/') == 2]
    scripts = [n for n in commands if re.search(r'^def main\(', files[n], re.M)
               and Path(n).stem not in subcommands | {'__init__'}]
    assert len(commands) > len(subcommands) and scripts == []
    # what the checkout holds besides the lab is all there
    package = {p.relative_to(REPO).as_posix() for p in (REPO / 'vnseg').rglob('*.py')
               if 'testing' not in p.relative_to(REPO).parts}
    assert package <= set(modules)
