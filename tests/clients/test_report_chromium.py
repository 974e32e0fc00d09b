"""The mosaic's HTML report with its accuracy section, as a browser shows it: headless Chromium renders the report
that ``vnseg map`` wrote before and after ``vnseg accuracy --report`` (a small georeferenced scene mapped by the tiny
model, its sample labelled from the truth). The report above the section must render as before; below it, the
section's chart must show the estimated areas in the class colours with their error bars.

``make test-clients`` installs Chromium (``tools/setup_clients.sh``: Debian's ``chromium-headless-shell``); without
it the test skips, and fails under ``CI=true``. ``VNSEG_CLIENT_IMAGES=DIR`` keeps the rendered PNGs there.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from accuracy_workflow import map_args, review_from_truth, tiny_checkpoint, write_scene
from vnseg.commands import main
from vnseg.core.classes import CLASSES, PALETTE

BROWSERS = ('chromium-headless-shell', 'chromium', 'chromium-browser', 'google-chrome')
#: Window of the renders, CSS pixels (one device pixel each): the report with its section fits in it.
WINDOW = (1280, 3200)


@pytest.fixture(scope='module')
def chromium():
    found = [p for p in [os.environ.get('VNSEG_CHROMIUM')] + [shutil.which(b) for b in BROWSERS] if p]
    if not found:
        reason = 'no headless Chromium (apt-get install chromium-headless-shell; `make test-clients` does it as root)'
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(reason + ' (CI=true: the client tests must run)')
        pytest.skip(reason)
    return found[0]


def render(browser: str, page: Path, png: Path) -> np.ndarray:
    """``uint8 (H, W, 3)`` of ``page`` rendered by headless Chromium in a :data:`WINDOW` window."""
    out = subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
                          '--force-device-scale-factor=1', f'--window-size={WINDOW[0]},{WINDOW[1]}',
                          f'--screenshot={png}', page.resolve().as_uri()], capture_output=True, text=True,
                         timeout=180, env=dict(os.environ, HOME=str(png.parent)))
    assert out.returncode == 0 and png.is_file(), out.stderr[-2000:]
    from PIL import Image
    return np.asarray(Image.open(png).convert('RGB'))


def near(img: np.ndarray, rgb, tol: int = 12) -> np.ndarray:
    return (np.abs(img.astype(int) - np.asarray(rgb)) <= tol).all(axis=-1)


def test_accuracy_section_renders_below_the_unchanged_report(chromium, tmp_path, one_torch_thread):
    truth, mosaic, _ = write_scene(tmp_path / 'data')
    out = tmp_path / 'out'
    assert main(map_args(tiny_checkpoint(tmp_path / 'tiny.pth'), mosaic, out, '--sample', 300)) == 0
    report = out / 'mosaic_report.html'
    shutil.copy(report, tmp_path / 'before.html')
    review_from_truth(out / 'mosaic_sample.gpkg', truth)
    assert main(['accuracy', str(out / 'mosaic_sample.gpkg'), '--class-map', str(out / 'mosaic_classes.tif'),
                 '--out-dir', str(tmp_path / 'accuracy'), '--report']) == 0
    doc = json.loads((tmp_path / 'accuracy' / 'accuracy.json').read_text(encoding='utf-8'))
    before = render(chromium, tmp_path / 'before.html', tmp_path / 'before.png')
    after = render(chromium, report, tmp_path / 'after.png')
    keep = os.environ.get('VNSEG_CLIENT_IMAGES')
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / 'after.png', Path(keep) / 'report_accuracy_section.png')
    # the report as vnseg map wrote it ends where the page turns white; the section starts below it
    ink = ~near(before, (255, 255, 255), 3)
    end = int(np.flatnonzero(ink.any(axis=1)).max()) + 1
    assert end < WINDOW[1] - 600, 'the report alone fills the window: the section would not be seen'
    assert (before[:end] == after[:end]).all(axis=-1).mean() > 0.999
    section = after[end:]
    assert (~near(section, (255, 255, 255), 3)).any(axis=1).sum() > 300  # chart and tables: hundreds of rows
    # the chart: a bar of every class with an estimated area, in the class's colour (full colour: the estimate;
    # the mapped area's bars are pale), and the intervals' error bars in near-black
    for c, name in enumerate(CLASSES):
        if c == 0:  # black bars: background's colour is the error bars' and the text's
            continue
        bar = near(section, PALETTE[c], 10)
        if doc['classes'][name]['area_ha'] > 0.01:
            assert bar.sum() > 200, name
    errorbars = near(section, (0x11, 0x11, 0x11), 6)
    assert errorbars.sum() > 50
