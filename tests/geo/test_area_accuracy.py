"""``vnseg accuracy``: a reviewed sample -> class areas with 95 % intervals and accuracies, checked against
the estimators, in every input form, and refusing samples that do not belong to the map."""
import csv
import json
import math

import numpy as np
import pytest

from sample_maps import (fill_reference, pixel_box, read_points, transform, truth_and_map, write_class_map,
                         write_mosaic, write_zones)
from vnseg.core.classes import CLASSES, CLASSES_VI
from vnseg.geo.accuracy import AccuracyError, AccuracyOptions, assess_accuracy, parse_class
from vnseg.geo.area_estimation import ReviewedSample, Strata, estimate_accuracy
from vnseg.geo.sampling import SampleOptions, draw_sample

CLASS_KEYS = {'mapped_area_ha', 'area_ha', 'area_ha_se', 'area_ha_ci95', 'users_accuracy', 'users_accuracy_ci95',
              'producers_accuracy', 'producers_accuracy_ci95'}


@pytest.fixture()
def reviewed(tmp_path):
    """A class map, a sample of it, and the sample labelled from the truth (as a reviewer would in QGIS)."""
    truth, mapped = truth_and_map()
    write_mosaic(tmp_path / 'ortho.tif', truth)
    cmap = write_class_map(tmp_path / 'ortho_classes.tif', mapped, source_image='ortho.tif')
    gpkg = tmp_path / 'sample.gpkg'
    draw_sample(cmap, gpkg, SampleOptions(n=250, min_per_stratum=25, seed=1))
    pts = read_points(gpkg)
    fill_reference(gpkg, {i: CLASSES[truth[r, c]] for i, r, c in zip(pts['sample_id'], pts['row'], pts['col'])})
    return dict(truth=truth, mapped=mapped, cmap=cmap, gpkg=gpkg, dir=tmp_path, pts=read_points(gpkg))


def _assess(sample, cmap, out, **kw):
    return assess_accuracy(sample, AccuracyOptions(class_map=str(cmap), out_dir=str(out), **kw))


def test_json_has_the_schema_and_the_estimators_numbers(reviewed):
    out = reviewed['dir'] / 'acc'
    doc = _assess(reviewed['gpkg'], reviewed['cmap'], out)
    on_disk = json.loads((out / 'accuracy.json').read_text(encoding='utf-8'))
    assert on_disk == json.loads(json.dumps(doc))
    assert isinstance(doc['n'], int) and doc['n'] == 250 and doc['unlabelled'] == 0
    assert list(doc['classes']) == list(CLASSES) and doc['zones'] == {}
    for e in doc['classes'].values():
        assert CLASS_KEYS <= set(e)
    # the same numbers from the estimators directly: strata = map classes, areas in m^2 from the map's pixel areas
    from rasterio.crs import CRS
    from vnseg.geo.areas import PixelAreas
    pa = PixelAreas(CRS.from_epsg(32648), transform(), 240, 180)
    mapped, truth, pts = reviewed['mapped'], reviewed['truth'], reviewed['pts']
    area = np.array([pa.row_area @ (mapped == c).sum(axis=1) for c in range(5)])
    pixels = np.bincount(mapped[mapped < 5], minlength=5)
    est = estimate_accuracy(ReviewedSample(mapped[pts['row'], pts['col']], mapped[pts['row'], pts['col']],
                                           truth[pts['row'], pts['col']]),
                            Strata(list(CLASSES), area, pixels, np.arange(5)), CLASSES)
    assert doc['overall_accuracy'] == pytest.approx(est.overall.value)
    assert doc['overall_accuracy_ci95'] == pytest.approx(1.96 * est.overall.se)
    for c, name in enumerate(CLASSES):
        e = doc['classes'][name]
        assert e['mapped_area_ha'] == pytest.approx(area[c] / 1e4)
        assert e['area_ha'] == pytest.approx(est.area[c].value / 1e4)
        assert e['area_ha_se'] == pytest.approx(est.area[c].se / 1e4)
        assert e['area_ha_ci95'] == pytest.approx(1.96 * e['area_ha_se'])
        assert e['users_accuracy'] == pytest.approx(est.users[c].value)
        assert e['users_accuracy_ci95'] == pytest.approx(1.96 * est.users[c].se)
        assert e['producers_accuracy'] == pytest.approx(est.producers[c].value)
        assert e['producers_accuracy_ci95'] == pytest.approx(1.96 * est.producers[c].se)
    assert sum(e['area_ha'] for e in doc['classes'].values()) == pytest.approx(area.sum() / 1e4)
    assert doc['error_matrix']['counts'] == est.counts.tolist()
    assert np.allclose(doc['error_matrix']['area_proportions'], est.proportions)
    assert doc['sample']['drawn'] and doc['sample']['points'] == 250 and doc['area_unit'] == 'ha'
    # the tables for people
    rows = list(csv.DictReader(open(out / 'accuracy.csv', encoding='utf-8')))
    assert [r['class'] for r in rows] == list(CLASSES)
    assert float(rows[4]['area_ha']) == pytest.approx(doc['classes']['building']['area_ha'])
    md = (out / 'accuracy.md').read_text(encoding='utf-8')
    assert '| building |' in md and f"{100 * doc['overall_accuracy']:.1f}" in md
    page = (out / 'accuracy.html').read_text(encoding='utf-8')
    assert '<section class="vnseg-accuracy">' in page and 'data:image/png;base64,' in page
    matrix = list(csv.reader(open(out / 'error_matrix.csv', encoding='utf-8')))
    assert matrix[0][:3] == ['zone', 'map_class', 'n_background'] and len(matrix) == 6


def test_csv_with_vietnamese_names_and_ids_gives_the_same_estimates(reviewed):
    pts, truth = reviewed['pts'], reviewed['truth']
    path = reviewed['dir'] / 'reviewed.csv'
    with open(path, 'w', newline='', encoding='utf-8-sig') as f:  # Excel's UTF-8 with a byte-order mark
        wr = csv.writer(f)
        wr.writerow(['sample_id', 'stratum', 'map_class', 'reference_class', 'x', 'y', 'row', 'col'])
        for k, (i, r, c) in enumerate(zip(pts['sample_id'], pts['row'], pts['col'])):
            ref = truth[r, c]
            ref_text = CLASSES_VI[ref].upper() if k % 3 == 0 else (str(ref) if k % 3 == 1 else f' {CLASSES[ref]} ')
            wr.writerow([i, pts['stratum'][k], CLASSES_VI[CLASSES.index(pts['map_class'][k])], ref_text,
                         repr(float(pts['x'][k])), repr(float(pts['y'][k])), r, c])
    a = _assess(reviewed['gpkg'], reviewed['cmap'], reviewed['dir'] / 'a')
    b = _assess(path, reviewed['cmap'], reviewed['dir'] / 'b')
    for key in ('n', 'overall_accuracy', 'overall_accuracy_ci95', 'classes', 'error_matrix'):
        assert a[key] == b[key]


def test_parse_class_names_in_both_languages_and_ids():
    assert parse_class('Building', CLASSES) == 4 and parse_class('cây xanh', CLASSES) == 3
    assert parse_class('MẶT NƯỚC', CLASSES) == 2 and parse_class('2', CLASSES) == 2 and parse_class('1.0', CLASSES) == 1
    assert parse_class('  ', CLASSES) is None and parse_class(None, CLASSES) is None
    for bad in ('roof', '5', '-1', '1.5'):
        with pytest.raises(KeyError):
            parse_class(bad, CLASSES)


def test_unlabelled_rows_are_counted_and_left_out(reviewed, capsys):
    pts = reviewed['pts']
    fill_reference(reviewed['gpkg'], {i: None for i in pts['sample_id'][:7]})
    fill_reference(reviewed['gpkg'], {i: '' for i in pts['sample_id'][7:10]})
    from vnseg.commands import main
    out = reviewed['dir'] / 'acc'
    assert main(['accuracy', str(reviewed['gpkg']), '--class-map', str(reviewed['cmap']), '--out-dir', str(out)]) == 0
    captured = capsys.readouterr()
    assert '10 of 250 points have no reference_class: left out (240 used)' in captured.err
    assert 'overall accuracy' in captured.out
    doc = json.loads((out / 'accuracy.json').read_text(encoding='utf-8'))
    assert doc['n'] == 240 and doc['unlabelled'] == 10 and doc['sample']['labelled'] == 240


def test_unknown_class_name_names_the_row_and_the_value(reviewed):
    out = reviewed['dir'] / 'acc'
    third = int(reviewed['pts']['sample_id'][2])
    fill_reference(reviewed['gpkg'], {third: 'roofs'})
    with pytest.raises(AccuracyError, match=rf"sample.gpkg: row 3 \(sample_id {third}\): unknown reference_class "
                                            r"'roofs'; use a class name \(background, road"):
        _assess(reviewed['gpkg'], reviewed['cmap'], out)
    assert not out.exists()  # nothing written


def _write_map_like(path, mapped, crs='EPSG:32648', origin=None, pixel=None):
    from sample_maps import ORIGIN, PIXEL_M
    return write_class_map(path, mapped, crs=crs, tr=transform(origin or ORIGIN, pixel or PIXEL_M))


@pytest.mark.parametrize('other, problem', [
    (dict(crs='EPSG:32649'), 'its CRS is EPSG:32648, the map\'s EPSG:32649'),
    (dict(pixel=0.25), 'its grid has pixels of 0.5 x 0.5, the map\'s 0.25 x 0.25'),
    (dict(origin=(585010.0, 2325000.0)), 'its extent is 240 x 180 pixels from (585000.000, 2325000.000)'),
])
def test_a_sample_of_another_map_is_refused(reviewed, other, problem):
    other_map = _write_map_like(reviewed['dir'] / 'other.tif', reviewed['mapped'], **other)
    with pytest.raises(AccuracyError, match='the sample was drawn on another map than .*other.tif: '
                                            + problem.replace('(', r'\(').replace(')', r'\)')):
        _assess(reviewed['gpkg'], other_map, reviewed['dir'] / 'acc')


def test_same_grid_other_classes_is_refused_and_csv_points_are_checked(reviewed):
    changed = reviewed['mapped'].copy()
    changed[changed == 3] = 0
    other = write_class_map(reviewed['dir'] / 'changed.tif', changed)
    with pytest.raises(AccuracyError, match=r'point\(s\) are not in their stratum on this map \(first: sample_id \d+ '
                                            r"is 'tree' in the sample, 'background' on the map\)"):
        _assess(reviewed['gpkg'], other, reviewed['dir'] / 'acc')
    # a CSV carries no CRS nor grid: its x, y must still be its pixels' centres on the map
    pts = reviewed['pts']
    path = reviewed['dir'] / 'shifted.csv'
    with open(path, 'w', newline='', encoding='utf-8') as f:
        wr = csv.writer(f)
        wr.writerow(['sample_id', 'map_class', 'reference_class', 'x', 'y', 'row', 'col'])
        for k in range(len(pts['sample_id'])):
            wr.writerow([pts['sample_id'][k], pts['map_class'][k], 'tree', pts['x'][k] + 3.0, pts['y'][k],
                         pts['row'][k], pts['col'][k]])
    with pytest.raises(AccuracyError, match=r'250 point\(s\) are not at the centre of their pixel'):
        _assess(path, reviewed['cmap'], reviewed['dir'] / 'acc')


def test_missing_columns_and_files(reviewed, tmp_path):
    path = tmp_path / 'x.csv'
    path.write_text('sample_id,map_class\n1,tree\n', encoding='utf-8')
    with pytest.raises(AccuracyError, match=r'x.csv: missing column\(s\) reference_class, x, y, row, col'):
        _assess(path, reviewed['cmap'], tmp_path / 'acc')
    with pytest.raises(AccuracyError, match='nope.gpkg: sample not found'):
        _assess(tmp_path / 'nope.gpkg', reviewed['cmap'], tmp_path / 'acc')


def test_stratum_with_one_labelled_point_is_reported_not_estimable(reviewed):
    pts = reviewed['pts']
    water = [i for i, m in zip(pts['sample_id'], pts['map_class']) if m == 'water']
    fill_reference(reviewed['gpkg'], {i: None for i in water[1:]})
    doc = _assess(reviewed['gpkg'], reviewed['cmap'], reviewed['dir'] / 'acc')
    assert any("'water' has one reviewed point" in n for n in doc['notes'])
    assert doc['overall_accuracy'] is not None and doc['overall_accuracy_ci95'] is None
    assert doc['classes']['water']['users_accuracy_ci95'] is None
    assert doc['classes']['building']['users_accuracy_ci95'] is not None  # its stratum is fine
    assert all(e['area_ha'] is not None and e['area_ha_ci95'] is None for e in doc['classes'].values())
    md = (reviewed['dir'] / 'acc' / 'accuracy.md').read_text(encoding='utf-8')
    assert 'one reviewed point' in md and 'n/e' in md


def test_class_never_mapped_but_found_by_reviewers_gets_its_area(tmp_path):
    truth, mapped = truth_and_map()
    mapped[mapped == 2] = 0  # the map never shows water
    cmap = write_class_map(tmp_path / 'm.tif', mapped)
    gpkg = tmp_path / 's.gpkg'
    draw_sample(cmap, gpkg, SampleOptions(n=300, min_per_stratum=30, seed=2, project=False))
    pts = read_points(gpkg)
    fill_reference(gpkg, {i: CLASSES[truth[r, c]] for i, r, c in zip(pts['sample_id'], pts['row'], pts['col'])})
    doc = _assess(gpkg, cmap, tmp_path / 'acc')
    water = doc['classes']['water']
    assert water['mapped_area_ha'] == 0 and water['area_ha'] > 0 and water['area_ha_ci95'] > 0
    assert water['users_accuracy'] is None and water['producers_accuracy'] == 0.0


def test_zone_strata_give_estimates_per_zone(tmp_path):
    truth, mapped = truth_and_map()
    cmap = write_class_map(tmp_path / 'm.tif', mapped)
    zones = write_zones(tmp_path / 'wards.geojson', [pixel_box(0, 0, 90, 240), pixel_box(90, 0, 180, 240)],
                        ['Phường A', 'Phường B'])
    gpkg = tmp_path / 's.gpkg'
    draw_sample(cmap, gpkg, SampleOptions(n=400, min_per_stratum=15, seed=0, zones=str(zones), zone_field='ward',
                                          project=False))
    pts = read_points(gpkg)
    fill_reference(gpkg, {i: CLASSES[truth[r, c]] for i, r, c in zip(pts['sample_id'], pts['row'], pts['col'])})
    doc = _assess(gpkg, cmap, tmp_path / 'acc')  # the zone file recorded in the GeoPackage
    assert list(doc['zones']) == ['Phường A', 'Phường B']
    for zone, rows in (('Phường A', slice(0, 90)), ('Phường B', slice(90, 180))):
        z = doc['zones'][zone]
        assert set(z['classes']) == set(CLASSES) and all(CLASS_KEYS <= set(e) for e in z['classes'].values())
        assert z['n'] == int((pts['zone'] == zone).sum())
        for c, name in enumerate(CLASSES):
            # mapped area of the zone: its pixels (0.25 m^2, times the UTM scale factor ~0.9996^2)
            assert z['classes'][name]['mapped_area_ha'] == pytest.approx(
                (mapped[rows] == c).sum() * 0.25e-4, rel=2e-3)
    # the whole = the two zones together
    for name in CLASSES:
        assert doc['classes'][name]['area_ha'] == pytest.approx(
            sum(doc['zones'][z]['classes'][name]['area_ha'] for z in doc['zones']))
        v = sum(doc['zones'][z]['classes'][name]['area_ha_se'] ** 2 for z in doc['zones'])
        assert doc['classes'][name]['area_ha_se'] == pytest.approx(math.sqrt(v))
    rows = list(csv.DictReader(open(tmp_path / 'acc' / 'accuracy.csv', encoding='utf-8')))
    assert len(rows) == 15 and {r['zone'] for r in rows} == {'', 'Phường A', 'Phường B'}
    # a sample stratified by zone without its zone file: one clear line
    (tmp_path / 'wards.geojson').rename(tmp_path / 'gone.geojson')
    with pytest.raises(AccuracyError, match='stratified by zone: pass the zone file'):
        _assess(gpkg, cmap, tmp_path / 'acc2')
    doc2 = _assess(gpkg, cmap, tmp_path / 'acc2', zones=str(tmp_path / 'gone.geojson'))
    assert doc2['zones']['Phường B']['classes'] == doc['zones']['Phường B']['classes']


def test_map_without_ground_units_reports_pixels(tmp_path):
    truth, mapped = truth_and_map(height=60, width=90)
    cmap = write_class_map(tmp_path / 'plain.tif', mapped, crs=None)
    gpkg = tmp_path / 's.gpkg'
    draw_sample(cmap, gpkg, SampleOptions(n=100, min_per_stratum=10, project=False))
    pts = read_points(gpkg)
    assert pts['_crs'] is None and np.allclose(pts['x'], pts['col'] + 0.5)
    fill_reference(gpkg, {i: CLASSES[truth[r, c]] for i, r, c in zip(pts['sample_id'], pts['row'], pts['col'])})
    doc = _assess(gpkg, cmap, tmp_path / 'acc')
    assert doc['area_unit'] == 'px'
    b = doc['classes']['building']
    assert b['area_ha'] is None and b['mapped_area_px'] == (mapped == 4).sum() and b['area_px'] > 0


def test_html_section_for_the_mosaic_report(reviewed):
    from vnseg.geo.accuracy_report import accuracy_section_html
    doc = _assess(reviewed['gpkg'], reviewed['cmap'], reviewed['dir'] / 'acc')
    section = accuracy_section_html(json.loads((reviewed['dir'] / 'acc' / 'accuracy.json').read_text()), lang='vi')
    assert section.startswith('<section class="vnseg-accuracy">') and section.endswith('</section>')
    assert 'công trình' in section and 'độ chính xác người dùng' in section and '<img' in section
    assert f"{doc['n']} điểm đã kiểm tra" in section
    # accuracy.json's keys are sorted; the tables keep the classes' order
    at = [section.index(f'<td>{name}</td>') for name in CLASSES_VI]
    assert at == sorted(at)
    assert doc['classes']['building']['area_ha'] is not None
