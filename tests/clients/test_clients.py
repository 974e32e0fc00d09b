"""Client tests: vnseg's outputs opened by the real clients they are made for.

* the ONNX export run by the Deepness QGIS plugin (0.6.5, source in ``../shared/clients/deepness``,
  put on ``sys.path``, never copied): its own model loading and ``MapProcessorSegmentation``, with the
  settings its widget takes from the model's metadata, on a real ortho; its class map must agree with
  vnseg's own (``vnseg map`` with the same ONNX model) on >= 97 % of the pixels;
* the class / confidence COGs, the GeoPackage and the GeoJSON opened in QGIS 3.22 (Debian bookworm):
  the default styles QGIS applies by itself, QGIS' ellipsoidal areas, and renders whose pixels must
  carry vnseg's palette where the class map has those classes (the ortho under the background);
* the GeoPackage read by the GDAL of that QGIS (3.6) without a warning;
* the planner's GeoPackage (``vnseg map --zones --regularize-buildings``): the zone layer of urban indicators
  opened in QGIS with its graduated style, labels and field titles in both languages, its values the indicator
  table's, rendered over the ortho;
* a sample's review form (``vnseg sample``) opened in QGIS: the ``reference_class`` drop-down QGIS builds
  from the stored form, labels picked in it and saved, the style and the project over the ortho; what QGIS
  saved is read by ``vnseg accuracy``.

The pytest side runs in the project venv and makes vnseg's outputs (a tiny SegFormer trained for a
minute on tests/tiny_data.py's blocks, exported, mapped); the QGIS side is ``qgis_side.py`` run by the
QGIS install's python (``VNSEG_QGIS_PYTHON``, default ``/usr/bin/python3``) with an offscreen Qt.
``make test-clients`` installs that side first (``tools/setup_clients.sh``); without it the tests skip
with one line, and fail under ``CI=true``. ``VNSEG_CLIENT_IMAGES=DIR`` keeps the rendered PNGs there.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, require_shared_data
from tiny_data import dataset_cfg_options, make_tiny_dataset

QGIS_PYTHON = os.environ.get('VNSEG_QGIS_PYTHON', '/usr/bin/python3')
SIDE = Path(__file__).with_name('qgis_side.py')
MARK = 'VNSEG_CLIENT_RESULT '
CFG = REPO / 'configs' / 'segformer_tiny_demo_vn.py'
#: Exported tile (px): Deepness' tile and vnseg's window; overlap 25 % (64 px) for both.
TILE = 256
TRAIN_ITERS = 80
#: The Kampala crop (real drone mosaic, EPSG:3857, 7.4646 cm): column, row, width, height.
CROP = (1000, 600, 640, 448)
#: Its ground resolution as a Deepness user types it (the widget keeps 2 decimals), cm/px.
RESOLUTION_CM = 7.46


def _qgis_env(tmp_path=None):
    """The QGIS python's environment: none of the venv's python variables, offscreen Qt and, under
    ``tmp_path``, its own home (QGIS' profile and settings: none of the user's are read, none written)
    and runtime folder (Qt wants one with mode 0700)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'VIRTUAL_ENV', 'XDG_'))}
    env.update(QT_QPA_PLATFORM='offscreen', OMP_NUM_THREADS='1')
    if tmp_path is not None:
        home = Path(tmp_path) / 'qgis-home'
        runtime = home / 'runtime'
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(home / '.config'),
                   XDG_DATA_HOME=str(home / '.local' / 'share'), XDG_CACHE_HOME=str(home / '.cache'))
    return env


def _skip_or_fail(reason):
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail(reason + ' (CI=true: the client tests must run; `make test-clients` installs QGIS as root)')
    pytest.skip(reason)


@pytest.fixture(scope='module')
def qgis_python():
    """The QGIS install's python, with Deepness' requirements; skip (fail under CI=true) without it."""
    probe = 'import qgis.core, qgis.gui, osgeo.gdal, onnxruntime, cv2, numpy'
    try:
        out = subprocess.run([QGIS_PYTHON, '-c', probe], env=_qgis_env(), capture_output=True, text=True,
                             timeout=300)
        problem = None if out.returncode == 0 else (out.stderr.strip().splitlines() or ['failed'])[-1]
    except OSError as exc:
        problem = str(exc)
    if problem:
        _skip_or_fail(f'QGIS python {QGIS_PYTHON} cannot import QGIS + Deepness requirements ({problem}); '
                      'run `make test-clients` as root')
    return QGIS_PYTHON


def _keep_renders(rep):
    """Copy the PNGs QGIS rendered to $VNSEG_CLIENT_IMAGES, when set, to look at them."""
    keep = os.environ.get('VNSEG_CLIENT_IMAGES')
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name, r in rep['renders'].items():
            shutil.copy(r['path'], Path(keep) / f'clients_{name}.png')


def run_side(python, command, args, tmp_path, timeout=600):
    """Run ``qgis_side.py COMMAND`` with ``args`` (JSON) under the QGIS python; its JSON result, with the
    process' stderr under ``'stderr'`` (where QGIS' GDAL prints its warnings)."""
    args_path = tmp_path / f'{command}_args.json'
    args_path.write_text(json.dumps(args), encoding='utf-8')
    out = subprocess.run([python, str(SIDE), command, str(args_path)], env=_qgis_env(tmp_path), capture_output=True,
                         text=True, timeout=timeout, cwd=str(tmp_path))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(MARK)]
    assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(lines[-1][len(MARK):])
    result['stderr'] = out.stderr
    return result


def gdal_complaints(stderr):
    """The lines GDAL prints for its warnings and errors (``Warning 1: ...``, ``ERROR 4: ...``)."""
    return [ln for ln in stderr.splitlines() if ln.startswith(('Warning ', 'ERROR '))]


def _kampala_rgb_crop(path):
    """A real RGB GeoTIFF cut from the Kampala mosaic at :data:`CROP` (same CRS, same pixel grid)."""
    import rasterio
    from rasterio.windows import Window
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    with rasterio.open(src_path) as src:
        win = Window(*CROP)
        rgb = src.read([1, 2, 3], window=win)
        prof = dict(driver='GTiff', width=CROP[2], height=CROP[3], count=3, dtype='uint8', crs=src.crs,
                    transform=src.window_transform(win), photometric='RGB')
    with rasterio.open(path, 'w', **prof) as dst:
        dst.write(rgb)
    return path


def _train_tiny(tmp):
    """The tiny demo SegFormer trained for :data:`TRAIN_ITERS` iterations on tiny_data's blocks."""
    data = make_tiny_dataset(tmp / 'tiny', splits=(('train', 16), ('val', 2), ('test', 2)), size=64)
    work = tmp / 'train'
    opts = dataset_cfg_options(data, batch_size=4) + [
        f'train_cfg.max_iters={TRAIN_ITERS}', f'train_cfg.val_interval={TRAIN_ITERS}',
        f'default_hooks.checkpoint.interval={TRAIN_ITERS}', 'default_hooks.logger.interval=50',
        f'param_scheduler.0.end={TRAIN_ITERS}', 'randomness.seed=0']
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='2')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    out = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), str(CFG), '--work-dir', str(work),
                          '--cfg-options', *opts], env=env, cwd=REPO, capture_output=True, text=True, timeout=840)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work / f'iter_{TRAIN_ITERS}.pth'


@pytest.fixture(scope='module')
def made(tmp_path_factory, qgis_python):
    """vnseg's side: trained tiny model -> ONNX (Deepness metadata) -> ``vnseg map`` on a Kampala crop.

    Returns a dict of paths: ``onnx``, ``ortho``, ``out`` (English outputs), ``out_vi`` (``--lang vi``).
    """
    from vnseg.commands.export import main as export
    from vnseg.commands.map import main as vnseg_map
    tmp = tmp_path_factory.mktemp('clients')
    ortho = _kampala_rgb_crop(tmp / 'kampala_rgb.tif')
    ckpt = _train_tiny(tmp)
    onnx_path = tmp / 'tiny.onnx'
    assert export([str(CFG), str(ckpt), '--out', str(onnx_path), '--tile', str(TILE),
                   '--resolution-cm', str(RESOLUTION_CM), '--parity-image', str(ortho)]) == 0
    out, out_vi = tmp / 'map', tmp / 'map_vi'
    assert vnseg_map([str(onnx_path), str(ortho), str(out), '--no-progress', '--no-report']) == 0
    assert vnseg_map([str(onnx_path), str(ortho), str(out_vi), '--no-progress', '--no-report', '--no-preview',
                      '--lang', 'vi']) == 0
    return dict(tmp=tmp, onnx=onnx_path, ortho=ortho, out=out, out_vi=out_vi, stem='kampala_rgb')


def _read(path, band=1):
    import rasterio
    with rasterio.open(path) as ds:
        return ds.read(band), ds.transform, ds.crs


def _gpkg_layers(path):
    """Names of the polygon layers of a GeoPackage (not its ``layer_styles`` table)."""
    from pyogrio import list_layers
    return [str(name) for name, geom in list_layers(str(path)) if geom is not None]


def _interior(mask, pixels):
    """``mask`` shrunk by ``pixels`` (pixels whose whole neighbourhood is in the mask)."""
    from scipy.ndimage import binary_erosion
    return binary_erosion(mask, structure=np.ones((2 * pixels + 1, 2 * pixels + 1), bool), border_value=0)


def test_deepness_runs_the_export_like_vnseg(made, qgis_python, tmp_path):
    from vnseg.core.classes import CLASSES
    deepness_src = require_shared_data('..', 'clients', 'deepness', 'src')
    npy = tmp_path / 'deepness.npy'
    rep = run_side(qgis_python, 'deepness', dict(model=str(made['onnx']), ortho=str(made['ortho']),
                                                 deepness_src=str(deepness_src), out_npy=str(npy)), tmp_path)
    # what Deepness read from the metadata, and what its widget made of it
    assert rep['model_class'] == 'Segmentor' and rep['model_type_metadata'] == 'Segmentor'
    assert rep['model_type_selected'] == 'Segmentor'
    assert rep['class_names'] == [list(CLASSES)] and rep['output_channels'] == [5]
    assert rep['outputs_are_sigmoid'] == [False]
    assert rep['input_shape'][1:] == [3, TILE, TILE]
    assert rep['resolution_metadata'] == RESOLUTION_CM and rep['tile_size_metadata'] == TILE
    assert rep['tiles_overlap_metadata'] == 25
    assert rep['seg_thresh_metadata'] == 0.0  # Deepness then unticks its threshold: the plain argmax
    assert rep['seg_small_segment_metadata'] == 0  # and unticks its median filter ("remove small areas")
    assert rep['standardization_mean'] == [0.0] * 3 and rep['standardization_std'] == [1.0] * 3
    p = rep['params']
    assert p['resolution_cm_per_px'] == RESOLUTION_CM and p['tile_size_px'] == TILE
    assert p['overlap_option'] == 'OVERLAP_IN_PERCENT' and p['overlap_percentage'] == 25
    assert p['overlap_px'] == TILE // 4 and p['probability_threshold'] == 0 and p['dilate_erode_size'] == 0
    assert p['model_inputs'] == 3 and p['processed_area_type'] == 'Entire layer'
    print('Deepness settings from the metadata:', json.dumps(p))

    # its class map against vnseg's, pixel centre by pixel centre on the ground
    ours, transform, crs = _read(made['out'] / f'{made["stem"]}_classes.tif')
    theirs = np.load(npy).astype(np.int16) - 1  # Deepness writes class id + 1 (0 = not processed)
    assert rep['layer_crs'] == f'EPSG:{crs.to_epsg()}'
    x0, _, _, y1 = rep['base_extent']
    u = rep['units_per_pixel']
    rows, cols = np.mgrid[0:ours.shape[0], 0:ours.shape[1]]
    x, y = transform * (cols + 0.5, rows + 0.5)
    r = np.clip(np.floor((y1 - y) / u).astype(int), 0, theirs.shape[0] - 1)
    c = np.clip(np.floor((x - x0) / u).astype(int), 0, theirs.shape[1] - 1)
    theirs_on_ours = theirs[r, c]
    assert (theirs_on_ours >= 0).all(), 'Deepness left pixels of the ortho unprocessed'
    valid = ours != 255
    assert valid.all()
    agreement = float((theirs_on_ours == ours).mean())
    shares = np.bincount(ours.ravel(), minlength=5) / ours.size
    print(f'Deepness vs vnseg class map: {100 * agreement:.2f} % of {ours.size} pixels agree; vnseg class shares '
          + ', '.join(f'{n} {100 * s:.1f} %' for n, s in zip(CLASSES, shares)))
    assert (shares >= 0.02).sum() >= 3, f'the tiny model predicts too few classes: {shares}'
    assert agreement >= 0.97, agreement


@pytest.fixture(scope='module')
def qgis_layers(made, qgis_python, tmp_path_factory):
    """QGIS' view of vnseg's English outputs (styles, areas, renders), from ``qgis_side.py layers``."""
    tmp = tmp_path_factory.mktemp('qgis')
    out, stem = made['out'], made['stem']
    layers = _gpkg_layers(out / f'{stem}.gpkg')
    geojson = sorted(str(p) for p in out.glob(f'{stem}_*.geojson'))
    rep = run_side(qgis_python, 'layers', dict(
        ortho=str(made['ortho']), classes=str(out / f'{stem}_classes.tif'),
        confidence=str(out / f'{stem}_confidence.tif'), gpkg=str(out / f'{stem}.gpkg'), gpkg_layers=layers,
        geojson=geojson, png_dir=str(tmp)), tmp)
    _keep_renders(rep)
    return rep


def _png(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert('RGBA'))


def test_qgis_paints_the_class_map_in_the_palette_over_the_ortho(made, qgis_layers):
    from vnseg.core.classes import CLASSES, PALETTE
    rep = qgis_layers
    cls = rep['classes']
    assert cls['renderer'] == 'paletted' and cls['crs'] == rep['ortho']['crs']
    assert [e['value'] for e in cls['palette']] == list(range(5))
    assert [e['label'] for e in cls['palette']] == list(CLASSES)
    assert [e['rgba'][:3] for e in cls['palette']] == [list(c) for c in PALETTE]
    assert [e['rgba'][3] for e in cls['palette']] == [0, 255, 255, 255, 255]  # background transparent
    assert cls['nodata'] == 255 and cls['overviews'] >= 1  # the COG's internal overviews serve QGIS' zoom-out
    assert rep['renders']['classes_over_ortho']['errors'] == []
    img = _png(rep['renders']['classes_over_ortho']['path'])
    classes = _read(made['out'] / f'{made["stem"]}_classes.tif')[0]
    ortho = np.moveaxis(np.stack([_read(made['ortho'], b)[0] for b in (1, 2, 3)]), 0, -1)
    assert img.shape[:2] == classes.shape
    seen = 0
    for c in range(5):
        inside = _interior(classes == c, 1)
        if inside.sum() < 50:
            continue
        seen += 1
        want = ortho[inside] if c == 0 else np.broadcast_to(np.array(PALETTE[c], np.uint8), (inside.sum(), 3))
        got = img[inside][:, :3]
        share = float((np.abs(got.astype(int) - want.astype(int)).max(axis=1) <= 1).mean())
        assert share >= 0.999, (CLASSES[c], share)
    assert seen >= 3 and (classes == 0).any()


def test_qgis_applies_the_geopackage_styles_and_areas(made, qgis_layers):
    from rasterio.features import rasterize
    import shapely
    from pyogrio.raw import read
    from vnseg.core.classes import CLASSES, PALETTE
    rep = qgis_layers
    gp = rep['gpkg']
    assert gp, 'no GeoPackage layers'
    assert gdal_complaints(rep['stderr']) == []  # QGIS 3.22's GDAL 3.6 warned on every access to a v1.4 file
    classes, transform, _ = _read(made['out'] / f'{made["stem"]}_classes.tif')
    ortho = np.moveaxis(np.stack([_read(made['ortho'], b)[0] for b in (1, 2, 3)]), 0, -1).astype(float)
    img = _png(rep['renders']['polygons_over_ortho']['path'])
    drawn = np.zeros(classes.shape, np.uint8)
    for name, info in gp.items():
        c = CLASSES.index(name)
        assert info['crs'] == rep['ortho']['crs'] and info['renderer'] == 'categorizedSymbol'
        assert info['class_attribute'] == 'class_id'
        assert [(int(k['value']), k['label']) for k in info['categories']] == [(c, name)]
        assert info['categories'][0]['rgba'] == list(PALETTE[c]) + [150]
        assert info['class_values'] in ([name], [])
        # QGIS' ellipsoidal area (WGS84) of every polygon = vnseg's area_m2 (exact pixel areas)
        assert info['qgis_area_m2'] == pytest.approx(info['attr_area_m2'], rel=1e-4, abs=1e-6)
        assert info['worst_feature_rel_diff'] < 1e-3, (name, info['worst_feature_rel_diff'])
        meta, _, geoms, _ = read(str(made['out'] / f'{made["stem"]}.gpkg'), layer=name, read_geometry=True,
                                 columns=[])
        assert len(geoms) == info['features']
        if len(geoms):
            drawn = np.maximum(drawn, rasterize(((g, c) for g in shapely.from_wkb(geoms)), out_shape=classes.shape,
                                                transform=transform, dtype=np.uint8))
    # rendered fills: the palette colour at alpha 150/255 over the ortho, inside the polygons
    seen = 0
    for c in range(1, 5):
        inside = _interior(drawn == c, 3)
        if inside.sum() < 50:
            continue
        seen += 1
        a = 150 / 255
        want = a * np.array(PALETTE[c], float) + (1 - a) * ortho[inside]
        share = float((np.abs(img[inside][:, :3] - want).max(axis=1) <= 2).mean())
        assert share >= 0.99, (CLASSES[c], share)
    assert seen >= 2
    background = _interior(drawn == 0, 3)
    assert (np.abs(img[background][:, :3] - ortho[background]).max(axis=1) <= 1).mean() >= 0.99


def test_qgis_ramps_the_confidence_cog(made, qgis_layers):
    rep = qgis_layers
    conf = rep['confidence']
    assert conf['renderer'] == 'singlebandpseudocolor' and conf['min'] == 0 and conf['max'] == 100
    stops = [(i['value'], i['rgba'][:3]) for i in conf['ramp']]
    assert [v for v, _ in stops] == [0, 50, 75, 90, 100]
    values = _read(made['out'] / f'{made["stem"]}_confidence.tif')[0]
    img = _png(rep['renders']['confidence']['path'])
    want = np.stack([np.interp(values, [v for v, _ in stops], [rgb[k] for _, rgb in stops]) for k in range(3)], -1)
    ok = values != 255
    assert ok.all() and values.min() < values.max()
    share = float((np.abs(img[ok][:, :3] - want[ok]).max(axis=1) <= 2).mean())
    assert share >= 0.99, share
    assert rep['classes']['bands'] == 1 and rep['confidence']['nodata'] == 255


def test_qgis_reads_the_geojson_as_rfc7946_with_its_style(made, qgis_layers):
    from vnseg.core.classes import CLASSES, PALETTE
    rep = qgis_layers
    assert rep['geojson'], 'no GeoJSON written'
    styled = 0
    for fname, info in rep['geojson'].items():
        doc = json.loads((made['out'] / fname).read_text(encoding='utf-8'))
        assert 'crs' not in doc and doc['type'] == 'FeatureCollection'
        name = fname[len(made['stem']) + 1:-len('.geojson')]
        c = CLASSES.index(name)
        g = rep['gpkg'][name]
        assert info['features'] == g['features'] == len(doc['features'])
        if not doc['features']:  # QGIS reads an empty FeatureCollection as a table without geometry
            continue
        styled += 1
        assert info['crs'] == 'EPSG:4326' and info['renderer'] == 'categorizedSymbol'
        assert info['categories'][0]['rgba'] == list(PALETTE[c]) + [150]
        # the same polygons reprojected to lon/lat: QGIS' ellipsoidal areas agree with the GeoPackage's
        assert info['qgis_area_m2'] == pytest.approx(g['qgis_area_m2'], rel=1e-4)
    assert styled >= 2


def test_gdal_of_qgis_reads_the_geopackage_without_warnings(made, qgis_python, tmp_path):
    out, stem = made['out'], made['stem']
    paths = [out / f'{stem}.gpkg', made['out_vi'] / f'{stem}.gpkg', out / f'{stem}_classes.tif',
             out / f'{stem}_confidence.tif']
    rep = run_side(qgis_python, 'gdal', dict(paths=[str(p) for p in paths]), tmp_path)
    assert rep['gdal_version'].startswith('3.')
    for p in paths:
        info = rep['files'][str(p)]
        assert info['messages'] == [], (p.name, info['messages'])
    layers = rep['files'][str(out / f'{stem}.gpkg')]['layers']
    assert set(_gpkg_layers(out / f'{stem}.gpkg')) <= set(layers) and 'layer_styles' in layers
    import sqlite3
    con = sqlite3.connect(str(out / f'{stem}.gpkg'))
    try:
        assert con.execute('PRAGMA user_version').fetchone()[0] == 10200
    finally:
        con.close()


def test_qgis_shows_vietnamese_names(made, qgis_python, tmp_path):
    from vnseg.core.classes import CLASSES_VI
    out, stem = made['out_vi'], made['stem']
    layers = _gpkg_layers(out / f'{stem}.gpkg')
    assert layers and set(layers) <= set(CLASSES_VI[1:])
    rep = run_side(qgis_python, 'layers', dict(
        ortho=str(made['ortho']), classes=str(out / f'{stem}_classes.tif'),
        confidence=str(out / f'{stem}_confidence.tif'), gpkg=str(out / f'{stem}.gpkg'), gpkg_layers=layers,
        geojson=[], png_dir=str(tmp_path)), tmp_path)
    assert [e['label'] for e in rep['classes']['palette']] == list(CLASSES_VI)
    for name, info in rep['gpkg'].items():
        assert [k['label'] for k in info['categories']] == [name]
        assert info['class_values'] in ([name], [])


# ------------------------------------------------------------------------------------------------
# the review form of a sample (vnseg sample) in QGIS
# ------------------------------------------------------------------------------------------------
def _kampala_class_map(tmp, ortho):
    """A class map on the ortho's grid, as vnseg map writes it: buildings from the Kampala building mask,
    trees where the ortho is green, background elsewhere; its SOURCE_IMAGE tag names the ortho."""
    import rasterio
    from rasterio.windows import Window
    from sample_maps import write_class_map
    rgb = np.stack([_read(ortho, b)[0] for b in (1, 2, 3)]).astype(int)
    with rasterio.open(require_shared_data('kampala_drone', 'kampala_oam_z21_buildings_mask.tif')) as ds:
        buildings = ds.read(1, window=Window(*CROP)) > 0
        tr, crs = ds.window_transform(Window(*CROP)), ds.crs
    classes = np.zeros(buildings.shape, np.uint8)
    classes[(rgb[1] > rgb[0] + 8) & (rgb[1] > rgb[2] + 8)] = 3
    classes[buildings] = 4
    return write_class_map(tmp / 'kampala_rgb_classes.tif', classes, crs=crs.to_string(), tr=tr,
                           source_image=ortho.name)


@pytest.mark.parametrize('lang', ['en', 'vi'])
def test_qgis_opens_the_sample_as_a_review_form(qgis_python, tmp_path, lang):
    from vnseg.core.classes import CLASSES, PALETTE, class_names
    from vnseg.geo.accuracy import AccuracyOptions, assess_accuracy
    from vnseg.geo.sampling import SampleOptions, draw_sample
    from sample_maps import fill_reference, read_points
    ortho = _kampala_rgb_crop(tmp_path / 'kampala_rgb.tif')
    cmap = _kampala_class_map(tmp_path, ortho)
    gpkg = tmp_path / 'review' / 'sample.gpkg'
    res = draw_sample(cmap, gpkg, SampleOptions(n=60, min_per_stratum=15, seed=0, lang=lang))
    labels = list(class_names(lang, CLASSES))
    pts = read_points(gpkg)
    ids = sorted(int(i) for i in pts['sample_id'])
    edit = {str(ids[k]): k % 5 for k in range(10)}  # the reviewer picks drop-down entries 0..4
    png_dir = tmp_path / 'png'
    png_dir.mkdir()
    rep = run_side(qgis_python, 'review_form', dict(gpkg=str(gpkg), project=str(res.project), png_dir=str(png_dir),
                                                     edit=edit, form_id=ids[0]), tmp_path)
    keep = os.environ.get('VNSEG_CLIENT_IMAGES')
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name, r in rep['renders'].items():
            shutil.copy(r['path'], Path(keep) / f'clients_sample_{name}_{lang}.png')
    # the form: a drop-down of the five classes, labelled in the language, storing English names
    assert rep['widget_type'] == 'ValueMap' and rep['widget_class'] == 'QComboBox'
    assert rep['items'] == [[lab, name] for lab, name in zip(labels, CLASSES)]
    assert rep['read_only']['reference_class'] is False
    assert all(rep['read_only'][f] for f in ('sample_id', 'stratum', 'map_class', 'x', 'y', 'row', 'col'))
    assert rep['edited'] == [[ids[k], labels[k % 5], CLASSES[k % 5]] for k in range(10)] and rep['committed']
    # the style: rings in the map class's colour, by map_class
    assert rep['renderer'] == 'categorizedSymbol' and rep['class_attribute'] == 'map_class'
    assert [(c['value'], c['label']) for c in rep['categories']] == list(zip(CLASSES, labels))
    for c, cat in zip(range(5), rep['categories']):
        assert cat['layers'][1]['stroke_rgba'] == list(PALETTE[c]) + [255] and cat['layers'][1]['fill_rgba'][3] == 0
    assert rep['features'] == 60 and rep['crs'] == 'EPSG:3857'
    assert gdal_complaints(rep['stderr']) == []
    # the project: the points over the ortho, the class map hidden, all layers found by their relative paths
    assert rep['project_read']
    assert [(p['name'], p['visible'], p['valid']) for p in rep['project_layers']] == [
        ('sample' if lang == 'en' else 'điểm mẫu', True, True), ('kampala_rgb_classes', False, True),
        ('kampala_rgb', True, True)]
    assert [p['renderer'] for p in rep['project_layers']] == ['categorizedSymbol', 'paletted', 'multibandcolor']
    assert rep['project_layers'][0]['widget_type'] == 'ValueMap'
    img = _png(rep['renders']['project']['path'])
    assert rep['renders']['project']['errors'] == [] and img[..., :3].std() > 10  # the ortho was drawn
    # what QGIS saved is what vnseg accuracy reads; the design in the metadata survived QGIS' edits
    after = read_points(gpkg)
    saved = {int(i): v for i, v in zip(after['sample_id'], after['reference_class']) if v is not None}
    assert saved == {ids[k]: CLASSES[k % 5] for k in range(10)}
    classes = _read(cmap)[0]
    fill_reference(gpkg, {int(i): CLASSES[classes[r, c]] for i, r, c in zip(after['sample_id'], after['row'],
                                                                           after['col']) if int(i) not in saved})
    doc = assess_accuracy(gpkg, AccuracyOptions(class_map=str(cmap), out_dir=str(tmp_path / 'acc')))
    assert doc['n'] == 60 and doc['sample']['drawn']


# ------------------------------------------------------------------------------------------------
# the planner's GeoPackage: class coverage, square buildings and the zone layer of urban indicators
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def made_zones(made, tmp_path_factory):
    """``vnseg map`` of the same crop with two zones (west and east halves, given in EPSG:4326) and square
    buildings, in Vietnamese: the planner's GeoPackage."""
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds
    from vnseg.commands.map import main as vnseg_map
    tmp = tmp_path_factory.mktemp('zones')
    with rasterio.open(made['ortho']) as ds:
        w, s, e, n = transform_bounds(ds.crs, 'EPSG:4326', *ds.bounds, densify_pts=21)
    mid = (w + e) / 2
    feats = [dict(type='Feature', properties=dict(phuong=name), geometry=shapely.geometry.mapping(shapely.box(*b)))
             for name, b in (('phường Tây', (w - 1e-4, s - 1e-4, mid, n + 1e-4)),
                             ('phường Đông', (mid, s - 1e-4, e + 1e-4, n + 1e-4)))]
    zf = tmp / 'phuong.geojson'
    zf.write_text(json.dumps(dict(type='FeatureCollection', features=feats)), encoding='utf-8')
    out = tmp / 'map'
    assert vnseg_map([str(made['onnx']), str(made['ortho']), str(out), '--no-progress', '--no-preview', '--lang', 'vi',
                      '--zones', str(zf), '--zone-field', 'phuong', '--regularize-buildings']) == 0
    return dict(out=out, stem=made['stem'])


def test_qgis_opens_the_zone_layer_styled_with_its_indicators(made, made_zones, qgis_python, tmp_path):
    import csv
    from rasterio.features import rasterize
    import shapely
    from pyogrio.raw import read
    from vnseg.core.classes import CLASSES_VI, PALETTE
    from vnseg.geo.indicators import COVERAGE_RANGES, INDICATORS, indicator_labels
    out, stem = made_zones['out'], made_zones['stem']
    gpkg = out / f'{stem}.gpkg'
    class_layers = [c for c in CLASSES_VI[1:] if c in _gpkg_layers(gpkg)]
    assert 'khu vực' in _gpkg_layers(gpkg) and len(class_layers) >= 2
    png_dir = tmp_path / 'png'
    png_dir.mkdir()
    rep = run_side(qgis_python, 'zones', dict(ortho=str(made['ortho']), gpkg=str(gpkg), zone_layer='khu vực',
                                              class_layers=class_layers, png_dir=str(png_dir)), tmp_path)
    _keep_renders(rep)
    z = rep['zones']
    # the style QGIS applied by itself: graduated on the building coverage ratio, labelled
    assert z['renderer'] == 'graduatedSymbol' and z['class_attribute'] == 'building_coverage_pct'
    assert [(g['lower'], g['upper'], g['rgba']) for g in z['ranges']] == [
        (lo, hi, list(rgb) + [150]) for lo, hi, rgb in COVERAGE_RANGES]
    assert z['labels_enabled'] and all(f in z['label_expression'] for f in ('"zone"', '"building_coverage_pct"'))
    assert z['crs'] == rep['ortho']['crs'] and z['features'] == 2 and z['wkb_type'] in (6, 3006)  # MultiPolygon
    # every indicator field titled in Vietnamese, then English
    vi, en = indicator_labels('vi'), indicator_labels('en')
    for key, *_ in INDICATORS:
        assert z['aliases'][key] == f'{vi[key]} / {en[key]}'
        assert z['display_names'][key] == z['aliases'][key]
    # the values QGIS reads are the indicator table's
    with open(out / f'{stem}_indicators.csv', encoding='utf-8') as f:
        rows = {r['zone']: r for r in csv.DictReader(f) if r['scope'] == 'zone'}
    assert sorted(a['zone'] for a in z['features_attrs']) == sorted(rows) == sorted(['phường Tây', 'phường Đông'])
    for a in z['features_attrs']:
        row = rows[a['zone']]
        for key, *_ in INDICATORS:
            want = row[key]
            assert (a[key] is None) if want == '' else a[key] == pytest.approx(float(want), rel=1e-9)
    # the class layers keep their own styles beside the zones
    for name, info in rep['classes'].items():
        c = CLASSES_VI.index(name)
        assert info['renderer'] == 'categorizedSymbol' and info['categories'][0]['rgba'] == list(PALETTE[c]) + [150]
    # rendered: inside each zone (away from its border and its label) the range's colour at alpha 150 over the ortho
    img = _png(rep['renders']['zones_over_ortho']['path'])
    assert rep['renders']['zones_over_ortho']['errors'] == []
    classes, transform, _ = _read(out / f'{stem}_classes.tif')
    ortho = np.moveaxis(np.stack([_read(made['ortho'], b)[0] for b in (1, 2, 3)]), 0, -1).astype(float)
    _, _, wkb, vals = read(str(gpkg), layer='khu vực', columns=['building_coverage_pct'])
    for geom, ratio in zip(shapely.from_wkb(wkb), vals[0]):
        (lo, hi, rgb), = [r for r in COVERAGE_RANGES if r[0] <= ratio <= r[1]][:1]
        inside = _interior(rasterize([(geom, 1)], out_shape=classes.shape, transform=transform, dtype=np.uint8) == 1, 3)
        a = 150 / 255
        want = a * np.array(rgb, float) + (1 - a) * ortho[inside]
        share = float((np.abs(img[inside][:, :3] - want).max(axis=1) <= 2).mean())
        assert share >= 0.93, (ratio, share)      # the rest: the zone's name and ratio written over it
    print('zone layer in QGIS:', {a['zone']: a['building_coverage_pct'] for a in z['features_attrs']})
    # and the GDAL of that QGIS reads the file (MultiPolygon zone layer, NULL fields) without a warning
    gdal_rep = run_side(qgis_python, 'gdal', dict(paths=[str(gpkg)]), tmp_path)
    assert gdal_rep['files'][str(gpkg)]['messages'] == []
