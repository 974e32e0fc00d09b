"""``vnseg sample``: stratified random sampling of a class map, and the review form it writes for QGIS."""
import json
import math
import sqlite3
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from sample_maps import (CRS, pixel_box, read_points, transform, truth_and_map, write_class_map, write_mosaic,
                         write_zones)
from vnseg.core.classes import CLASSES, CLASSES_VI, PALETTE
from vnseg.core.errors import OptionError
from vnseg.geo.sampling import (ClassMap, SampleError, SampleOptions, allocate, count_strata, draw_points,
                                draw_sample, expected_overall_se, pixel_centres, size_for_target_se)


@pytest.fixture()
def scene(tmp_path):
    """A class map (with nodata) and its mosaic beside it, named by the map's SOURCE_IMAGE tag."""
    truth, mapped = truth_and_map()
    write_mosaic(tmp_path / 'ortho.tif', truth)
    path = write_class_map(tmp_path / 'ortho_classes.tif', mapped, source_image='ortho.tif')
    return dict(path=path, truth=truth, mapped=mapped, dir=tmp_path)


# ------------------------------------------------------------------------------------------------
# allocation and sample size
# ------------------------------------------------------------------------------------------------
def test_allocation_minimum_first_then_in_proportion_to_area():
    pixels = np.array([1000, 500, 30, 0, 10000])
    # 50 each (30 for the small stratum, which has no more; 0 for the empty one) = 180; 20 left in proportion
    # to area among strata with pixels left: 20 x (1000, 500, 10000) / 11500 = 1.74, 0.87, 17.39 -> 1, 0, 17 and
    # the two largest remainders (0.87, 0.74) one more each
    alloc = allocate(pixels, pixels * 0.25, 200, 50)
    assert alloc.tolist() == [52, 51, 30, 0, 67]
    assert allocate(pixels, pixels * 0.25, 180, 50).tolist() == [50, 50, 30, 0, 50]
    # every pixel when n exceeds the map; never more than a stratum's pixels
    assert allocate(pixels, pixels * 1.0, 20000, 50).tolist() == pixels.tolist()
    # minimum 0: plain proportional allocation
    assert allocate(np.array([600, 300, 100]), np.array([600, 300, 100.0]), 10, 0).tolist() == [6, 3, 1]


def test_allocation_below_the_minimums_is_refused():
    with pytest.raises(OptionError, match=r'--n: 100 points cannot give each of the 3 strata its minimum of 50'):
        allocate(np.array([1000, 1000, 1000]), np.array([1.0, 1.0, 1.0]), 100, 50)


def test_sample_size_from_a_target_standard_error():
    pixels = np.array([100_000, 20_000, 5_000])
    area = pixels * 0.25
    ua = np.array([0.9, 0.7, 0.6])
    n, n0, se = size_for_target_se(pixels, area, ua, 0.02, 30)
    W = pixels / pixels.sum()
    S = np.sqrt(ua * (1 - ua))
    assert n0 == math.ceil((W @ S / 0.02) ** 2)  # Cochran's n for Neyman allocation
    # n is the smallest total whose allocation reaches the target
    assert se <= 0.02 < expected_overall_se(pixels, area, allocate(pixels, area, n - 1, 30), ua)
    alloc = allocate(pixels, area, n, 30)
    assert se == pytest.approx(math.sqrt(np.sum(W ** 2 * S ** 2 * (1 - alloc / pixels) / alloc)))
    assert n >= n0 - 1  # Neyman's allocation is the best any allocation can do (up to the fpc)


# ------------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------------
def test_points_are_distinct_pixels_of_their_stratum_and_never_nodata(scene):
    cm = ClassMap(scene['mapped'])
    table = count_strata(cm, block_rows=16)
    assert table.pixels.tolist() == np.bincount(scene['mapped'][scene['mapped'] < 5], minlength=5).tolist()
    alloc = allocate(table.pixels, table.area, 300, 40)
    pts = draw_points(cm, table, alloc, seed=3)
    values = scene['mapped'][pts.row, pts.col]
    assert (values != 255).all() and (values == pts.stratum).all()
    assert np.bincount(pts.stratum, minlength=5).tolist() == alloc.tolist()
    assert len({(r, c) for r, c in zip(pts.row, pts.col)}) == len(pts)
    assert sorted(pts.sample_id.tolist()) == list(range(1, 301))
    assert not (np.diff(pts.stratum[np.argsort(pts.sample_id)]) >= 0).all()  # ids do not go stratum by stratum


def test_same_seed_same_points_whatever_the_block_size(scene):
    cm = ClassMap(scene['mapped'])
    runs = []
    for block_rows, seed in ((7, 1), (512, 1), (16, 2)):
        table = count_strata(cm, block_rows=block_rows)
        pts = draw_points(cm, table, allocate(table.pixels, table.area, 200, 20), seed=seed)
        runs.append(np.stack([pts.sample_id, pts.row, pts.col]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_every_pixel_of_a_stratum_is_equally_likely():
    # 2 strata of 24 and 30 pixels spread over several blocks; 5 points each, 3000 draws: every pixel of a
    # stratum is drawn 5/24 resp. 5/30 of the times (binomial: within 5 standard errors)
    mapped = np.full((9, 8), 255, np.uint8)
    mapped.ravel()[np.random.default_rng(0).permutation(72)[:54]] = [1] * 24 + [3] * 30
    cm = ClassMap(mapped)
    table = count_strata(cm, block_rows=2)
    alloc = np.array([0, 5, 0, 5, 0])
    hits = np.zeros(mapped.shape)
    draws = 3000
    for seed in range(draws):
        pts = draw_points(cm, table, alloc, seed)
        hits[pts.row, pts.col] += 1
    assert hits[mapped == 255].sum() == 0
    for c, n_px in ((1, 24), (3, 30)):
        p = 5 / n_px
        assert np.abs(hits[mapped == c] - draws * p).max() < 5 * math.sqrt(draws * p * (1 - p))


def test_zones_stratify_by_zone_and_class_and_outside_is_never_drawn(scene, tmp_path):
    mapped = scene['mapped']
    # two wards overlapping on rows 60-89: pixels there belong to the first one; rows 150+ are in no ward
    zones = write_zones(tmp_path / 'wards.geojson', [pixel_box(0, 0, 90, 240), pixel_box(60, 0, 150, 240)],
                        ['Ward 1', 'Ward 2'])
    out = tmp_path / 's.gpkg'
    res = draw_sample(scene['path'], out, SampleOptions(n=400, min_per_stratum=20, seed=5, zones=str(zones),
                                                        zone_field='ward', project=False))
    t = res.table
    assert t.zone_names == ['Ward 1', 'Ward 2'] and len(t.pixels) == 10
    want1 = np.bincount(mapped[:90][mapped[:90] < 5], minlength=5)
    want2 = np.bincount(mapped[90:150][mapped[90:150] < 5], minlength=5)
    assert t.pixels.tolist() == want1.tolist() + want2.tolist()
    assert t.area == pytest.approx(t.pixels * 0.25, rel=2e-3)  # UTM: ground area = 0.25 m^2 x scale factor
    pts = read_points(out)
    assert (pts['row'] < 150).all()
    zone_of_row = np.where(pts['row'] < 90, 'Ward 1', 'Ward 2')
    assert (pts['zone'] == zone_of_row).all()
    assert (pts['map_class'] == np.array(CLASSES)[mapped[pts['row'], pts['col']]]).all()
    assert (pts['stratum'] == np.char.add(np.char.add(pts['zone'].astype(str), ' / '),
                                          pts['map_class'].astype(str))).all()


# ------------------------------------------------------------------------------------------------
# the review form
# ------------------------------------------------------------------------------------------------
def _style(gpkg):
    con = sqlite3.connect(str(gpkg))
    try:
        return con.execute("SELECT f_table_name, styleQML, useAsDefault FROM layer_styles").fetchall()
    finally:
        con.close()


def test_geopackage_fields_values_and_design(scene):
    out = scene['dir'] / 'review' / 'sample.gpkg'
    res = draw_sample(scene['path'], out, SampleOptions(n=150, min_per_stratum=10, seed=0))
    pts = read_points(out)
    from rasterio.crs import CRS as RioCRS
    assert RioCRS.from_user_input(pts['_crs']) == RioCRS.from_user_input(CRS)
    from pyogrio import read_info
    info = read_info(str(out), layer='sample_points')
    assert list(info['fields']) == ['sample_id', 'stratum', 'map_class', 'reference_class', 'x', 'y', 'row', 'col']
    assert info['geometry_type'] == 'Point' and info['features'] == 150
    assert sorted(pts['sample_id'].tolist()) == list(range(1, 151))
    assert set(pts['map_class']) <= set(CLASSES) and (pts['stratum'] == pts['map_class']).all()
    assert all(v is None for v in pts['reference_class'])
    # x, y: the pixel centre (and the geometry)
    x, y = pixel_centres(transform(), pts['row'], pts['col'])
    assert np.allclose(pts['x'], x) and np.allclose(pts['y'], y)
    import shapely
    g = shapely.from_wkb(pts['_geometry'])
    assert np.allclose(shapely.get_x(g), x) and np.allclose(shapely.get_y(g), y)
    design = json.loads(info['layer_metadata']['VNSEG_SAMPLE_DESIGN'])
    assert design['seed'] == 0 and design['n'] == 150 and (design['width'], design['height']) == (240, 180)
    assert {s['map_class']: s['n'] for s in design['strata']} == dict(zip(CLASSES, res.alloc.tolist()))
    assert sum(s['pixels'] for s in design['strata']) == int((scene['mapped'] < 5).sum())
    with sqlite3.connect(str(out)) as con:
        assert con.execute('PRAGMA user_version').fetchone()[0] == 10200  # GeoPackage 1.2, as vnseg map writes


@pytest.mark.parametrize('lang, labels', [('en', CLASSES), ('vi', CLASSES_VI)])
def test_style_has_the_drop_down_of_the_five_classes_and_colours_by_map_class(scene, lang, labels):
    out = scene['dir'] / f'sample_{lang}.gpkg'
    draw_sample(scene['path'], out, SampleOptions(n=100, min_per_stratum=5, lang=lang, project=False))
    (layer, qml, default), = _style(out)
    assert layer == 'sample_points' and default == 1
    root = ET.fromstring(qml.split('\n', 1)[1])
    widget = root.find("fieldConfiguration/field[@name='reference_class']/editWidget")
    assert widget.get('type') == 'ValueMap'
    entries = [(o.get('name'), o.get('value'))
               for o in widget.findall('config/Option/Option[@name="map"]/Option/Option')]
    assert entries == list(zip(labels, CLASSES))  # labels shown, English names stored
    editable = {f.get('name'): f.get('editable') for f in root.findall('editable/field')}
    assert editable.pop('reference_class') == '1' and set(editable.values()) == {'0'}
    renderer = root.find('renderer-v2')
    assert renderer.get('type') == 'categorizedSymbol' and renderer.get('attr') == 'map_class'
    cats = [(c.get('value'), c.get('label'), c.get('symbol')) for c in renderer.findall('categories/category')]
    assert cats == [(c, lab, str(i)) for i, (c, lab) in enumerate(zip(CLASSES, labels))]
    for i, rgb in enumerate(PALETTE):
        ring = renderer.find(f"symbols/symbol[@name='{i}']/layer[2]/Option/Option[@name='outline_color']")
        assert ring.get('value') == ','.join(map(str, rgb)) + ',255'


def test_project_opens_the_points_over_the_mosaic_named_by_the_map(scene):
    out = scene['dir'] / 'review' / 'sample.gpkg'
    res = draw_sample(scene['path'], out, SampleOptions(n=60, min_per_stratum=5))
    assert res.project == scene['dir'] / 'review' / 'sample.qgs' and res.image == scene['dir'] / 'ortho.tif'
    root = ET.parse(res.project).getroot()
    layers = {m.find('layername').text: m for m in root.findall('projectlayers/maplayer')}
    assert [m.find('datasource').text for m in layers.values()] == [
        './sample.gpkg|layername=sample_points', '../ortho_classes.tif', '../ortho.tif']
    points = root.find("projectlayers/maplayer[@type='vector']")
    assert points.find("fieldConfiguration/field[@name='reference_class']/editWidget").get('type') == 'ValueMap'
    tree = [(n.get('name'), n.get('checked')) for n in root.findall('layer-tree-group/layer-tree-layer')]
    assert tree == [('sample', 'Qt::Checked'), ('ortho_classes', 'Qt::Unchecked'), ('ortho', 'Qt::Checked')]
    assert root.find('projectCrs/spatialrefsys/authid').text == 'EPSG:32648'


def test_chips_show_the_mosaic_around_each_point_with_the_pixel_framed(scene):
    from PIL import Image
    from vnseg.geo.review_chips import CHIP_OUTPUT_PX
    chips = scene['dir'] / 'chips'
    res = draw_sample(scene['path'], scene['dir'] / 's.gpkg', SampleOptions(n=30, min_per_stratum=5, chips=str(chips),
                                                                           chip_size=32, project=False))
    import csv
    rows = list(csv.DictReader(open(res.chips_csv, encoding='utf-8')))
    assert [r['sample_id'] for r in rows] == [str(i) for i in range(1, 31)]
    assert list(rows[0]) == ['sample_id', 'stratum', 'map_class', 'reference_class', 'x', 'y', 'row', 'col', 'chip']
    scale = round(CHIP_OUTPUT_PX / 32)
    for r in rows[:10]:
        img = np.asarray(Image.open(chips / r['chip']).convert('RGB'))
        assert img.shape == (32 * scale, 32 * scale, 3)
        # the point's pixel, inside its frame: the mosaic's colour there (the truth's palette colour)
        c = 16 * scale + scale // 2
        want = PALETTE[scene['truth'][int(r['row']), int(r['col'])]]
        assert img[c, c].tolist() == list(want)
        assert img[16 * scale - 1, c].tolist() == [255, 0, 255]  # the frame, one pixel out


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
def test_bad_class_maps_are_refused(tmp_path):
    import rasterio
    opts = SampleOptions(n=10, min_per_stratum=1, project=False)
    with pytest.raises(SampleError, match='missing.tif: class map not found'):
        draw_sample(tmp_path / 'missing.tif', tmp_path / 's.gpkg', opts)
    rgb = tmp_path / 'rgb.tif'
    with rasterio.open(rgb, 'w', driver='GTiff', width=8, height=8, count=3, dtype='uint8') as dst:
        dst.write(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(SampleError, match='rgb.tif: a class map is a single-band uint8'):
        draw_sample(rgb, tmp_path / 's.gpkg', opts)
    bad = np.zeros((20, 20), np.uint8)
    bad[5, 5] = 7
    with pytest.raises(SampleError, match=r'bad.tif: pixel value 7 is neither a class id \(0..4'):
        draw_sample(write_class_map(tmp_path / 'bad.tif', bad), tmp_path / 's.gpkg', opts)
    empty = write_class_map(tmp_path / 'empty.tif', np.full((20, 20), 255, np.uint8))
    with pytest.raises(SampleError, match='empty.tif: no classified pixel to sample'):
        draw_sample(empty, tmp_path / 's.gpkg', opts)
    assert not list(tmp_path.glob('*.gpkg')) and not list(tmp_path.glob('.*'))


def test_bad_options_are_refused(scene, tmp_path):
    path = scene['path']
    with pytest.raises(OptionError, match='--n: give the sample size'):
        draw_sample(path, tmp_path / 's.gpkg', SampleOptions())
    with pytest.raises(OptionError, match='--target-se'):
        draw_sample(path, tmp_path / 's.gpkg', SampleOptions(target_se=1.5))
    with pytest.raises(OptionError, match='--n: 100 points cannot give each of the 5 strata'):
        draw_sample(path, tmp_path / 's.gpkg', SampleOptions(n=100))
    with pytest.raises(OptionError, match='--expected-accuracy: unknown class'):
        draw_sample(path, tmp_path / 's.gpkg', SampleOptions(target_se=0.05, expected_accuracy={'roof': 0.5}))
    elsewhere = write_mosaic(tmp_path / 'elsewhere.tif', scene['truth'], tr=transform((590000.0, 2325000.0)))
    from vnseg.geo.review_chips import ChipError
    with pytest.raises(ChipError, match=r'elsewhere.tif: sample point \d+ \(x .*\) lies outside this mosaic'):
        draw_sample(path, tmp_path / 's.gpkg', SampleOptions(n=60, min_per_stratum=1, image=str(elsewhere),
                                                            chips=str(tmp_path / 'c')))
    assert not (tmp_path / 's.qgs').exists() and not (tmp_path / 'c').exists()
    lone = write_class_map(tmp_path / 'lone_classes.tif', scene['mapped'])
    with pytest.raises(OptionError, match='--chips: chips are cut from the mosaic'):
        draw_sample(lone, tmp_path / 's.gpkg', SampleOptions(n=60, min_per_stratum=1, chips=str(tmp_path / 'c')))
    assert not (tmp_path / 's.gpkg').exists()


def test_target_se_sample_in_vietnamese_names(scene):
    res = draw_sample(scene['path'], scene['dir'] / 's.gpkg', SampleOptions(
        target_se=0.03, min_per_stratum=10, expected_accuracy={'*': 0.85, 'công trình': 0.5}, project=False))
    assert res.expected_se <= 0.03 and len(res.points) == int(res.alloc.sum())
    ua = np.array([0.85, 0.85, 0.85, 0.85, 0.5])
    assert res.expected_se == pytest.approx(expected_overall_se(res.table.pixels, res.table.area, res.alloc, ua))


# ------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------
def test_command_writes_the_form_and_says_what_it_drew(scene, capsys):
    from vnseg.commands import main
    out = scene['dir'] / 'cmd.gpkg'
    assert main(['sample', str(scene['path']), str(out), '--n', '120', '--min-per-stratum', '10', '--seed', '4',
                 '--lang', 'vi']) == 0
    text = capsys.readouterr().out
    assert '120 points in 5 strata (seed 4)' in text and 'review form : ' in text and 'cmd.qgs' in text
    assert len(read_points(out)['sample_id']) == 120
    assert main(['sample', str(scene['dir'] / 'nope.tif'), str(out), '--n', '5']) == 1
    assert capsys.readouterr().err.strip() == f'error: {scene["dir"] / "nope.tif"}: class map not found'
    with pytest.raises(SystemExit) as exc:
        main(['sample', str(scene['path']), str(out)])
    assert exc.value.code == 2


def test_flags_are_the_option_fields_with_their_defaults():
    """Each field of the option objects is the flag of its name (``--no-NAME`` for one on by default)."""
    from dataclasses import fields
    from vnseg.commands.accuracy import parse_args as accuracy_args
    from vnseg.commands.sample import parse_args as sample_args
    from vnseg.commands.sample import _expected_accuracy
    from vnseg.geo.accuracy import AccuracyOptions
    args = sample_args(['m.tif', 'o.gpkg', '--target-se', '0.02'])
    assert args.n is None and args.target_se == 0.02 and _expected_accuracy(args.expected_accuracy) == {}
    assert _expected_accuracy(['0.7', 'building=0.5']) == {'*': 0.7, 'building': 0.5}
    for f in fields(SampleOptions):
        if f.name in ('target_se', 'expected_accuracy'):
            continue
        value = getattr(args, f.name) if hasattr(args, f.name) else not getattr(args, f'no_{f.name}')
        assert value == f.default, f.name
    args = accuracy_args(['s.gpkg', '--class-map', 'm.tif', '--out-dir', 'd'])
    for f in fields(AccuracyOptions):
        assert hasattr(args, f.name), f.name
        if f.name not in ('class_map', 'out_dir'):
            assert getattr(args, f.name) == f.default, f.name
