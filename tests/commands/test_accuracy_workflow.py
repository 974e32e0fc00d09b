"""The planner's workflow as docs/accuracy.md tells it, end to end on a small georeferenced scene: ``vnseg map
--sample`` (and ``vnseg sample``) -> the points labelled from a known truth -> ``vnseg accuracy --report`` -> the
mosaic's report with the areas and their intervals. Numbers are checked against the map's own area tables."""
import csv
import json
from collections import Counter

import numpy as np
import pytest

from accuracy_workflow import CORNER, map_args, review_from_truth, tiny_checkpoint, write_scene
from sample_maps import PIXEL_M, fill_reference, read_points
from vnseg.commands import main
from vnseg.commands.cli import EXIT_USER_ERROR
from vnseg.core.classes import CLASSES

N = 600  # 2 wards x 4 mapped classes x 50 points first, the rest in proportion to area


@pytest.fixture(scope='module')
def mapped(tmp_path_factory, one_torch_thread):
    """``vnseg map --zones --sample`` on the scene, once for the module."""
    tmp = tmp_path_factory.mktemp('workflow')
    truth, mosaic, wards = write_scene(tmp / 'data')
    ckpt = tiny_checkpoint(tmp / 'tiny.pth')
    out = tmp / 'out'
    args = map_args(ckpt, mosaic, out, '--zones', wards, '--zone-field', 'ward', '--sample', N)
    assert main(args) == 0
    return dict(tmp=tmp, truth=truth, mosaic=mosaic, wards=wards, ckpt=ckpt, out=out, args=args,
                cmap=out / 'mosaic_classes.tif', gpkg=out / 'mosaic_sample.gpkg', report=out / 'mosaic_report.html')


def test_map_draws_the_sample_that_vnseg_sample_draws(mapped, capsys):
    out = mapped['out']
    assert (out / 'mosaic_sample.qgs').is_file()
    qgs = (out / 'mosaic_sample.qgs').read_text(encoding='utf-8')
    assert '../data/mosaic.tif' in qgs  # the points over the mapped image (relative path)
    pts = read_points(mapped['gpkg'])
    assert len(pts['sample_id']) == N and set(pts['zone']) == {'Tây', 'Đông'}
    assert all(s == f'{z} / {c}' for s, z, c in zip(pts['stratum'], pts['zone'], pts['map_class']))
    assert not any(pts['reference_class'])
    # the design, drawn as vnseg sample draws it with the same options and seed
    again = mapped['tmp'] / 'review' / 'sample.gpkg'
    assert main(['sample', str(mapped['cmap']), str(again), '--n', str(N), '--seed', '0', '--zones',
                 str(mapped['wards']), '--zone-field', 'ward']) == 0
    other = read_points(again)
    for key in ('sample_id', 'row', 'col', 'stratum', 'map_class', 'zone'):
        assert np.array_equal(pts[key], other[key]), key
    capsys.readouterr()


def test_reviewed_sample_gives_the_estimators_areas_and_goes_into_the_report(mapped, capsys):
    out, truth = mapped['out'], mapped['truth']
    pts = review_from_truth(mapped['gpkg'], truth)
    before = mapped['report'].read_text(encoding='utf-8')
    acc = mapped['tmp'] / 'accuracy'
    assert main(['accuracy', str(mapped['gpkg']), '--class-map', str(mapped['cmap']), '--out-dir', str(acc),
                 '--report']) == 0
    assert f'report : {mapped["report"]}' in capsys.readouterr().out
    doc = json.loads((acc / 'accuracy.json').read_text(encoding='utf-8'))
    areas = {r['class']: r for r in json.loads((out / 'mosaic_areas.json').read_text(encoding='utf-8'))['classes']}
    with open(out / 'mosaic_zones.csv', encoding='utf-8') as f:
        zone_area = {(r['zone'], r['class']): float(r['area_ha']) for r in csv.DictReader(f)}
    assert doc['n'] == N and doc['unlabelled'] == 0 and set(doc['zones']) == {'Tây', 'Đông'}
    # mapped areas: those of the map's area table; estimates: sum over strata of the stratum's mapped area (the
    # zone table) times the share of its points that the reviewer put in the class
    n_h = Counter(zip(pts['zone'], pts['map_class']))
    n_hk = Counter(zip(pts['zone'], pts['map_class'], pts['reference_class']))
    for name in CLASSES:
        e = doc['classes'][name]
        assert e['mapped_area_ha'] == pytest.approx(areas[name]['area_ha'], abs=1e-7)
        per_zone = {zone: sum(zone_area[(z, m)] * n_hk[(z, m, name)] / n for (z, m), n in n_h.items() if z == zone)
                    for zone in doc['zones']}
        assert e['area_ha'] == pytest.approx(sum(per_zone.values()), rel=1e-6, abs=1e-9)
        for zone, value in per_zone.items():
            assert doc['zones'][zone]['classes'][name]['area_ha'] == pytest.approx(value, rel=1e-6, abs=1e-9)
    # the truth's areas (0.25 m^2 pixels; the ground areas differ by the projection's scale, < 0.1 %): every
    # estimate within 3 standard errors, and far closer than the map of this untrained model
    labelled = np.ones(truth.shape, bool)
    labelled[:CORNER[0], :CORNER[1]] = False
    true_ha = np.bincount(truth[labelled], minlength=len(CLASSES)) * PIXEL_M ** 2 / 1e4
    est = np.array([doc['classes'][c]['area_ha'] for c in CLASSES])
    se = np.array([doc['classes'][c]['area_ha_se'] for c in CLASSES])
    mapped_ha = np.array([areas[c]['area_ha'] for c in CLASSES])
    assert (np.abs(est - true_ha) <= 3 * se).all(), (est, true_ha, se)
    assert np.abs(est - true_ha).sum() < 0.2 * np.abs(mapped_ha - true_ha).sum()
    # the report: the page as vnseg map wrote it, plus the section (chart, tables, the sample's size and date)
    from vnseg.geo.accuracy_report import accuracy_section_html
    after = mapped['report'].read_text(encoding='utf-8')
    section = accuracy_section_html(doc, 'en')
    assert after.count(section) == 1 and after.count('<section class="vnseg-accuracy">') == 1
    assert after.replace(section, '') == before.replace('</body>', '<!-- vnseg section accuracy -->\n\n'
                                                        '<!-- /vnseg section accuracy -->\n</body>')
    assert f'{N} reviewed points' in section and f'sample drawn {doc["sample"]["drawn"][:10]}' in section
    assert section.count('data:image/png;base64,') == 1 and 'Per zone' in section and 'Đông' in section
    # a second assessment (one label changed) replaces the section, and the rest stays
    first = pts['sample_id'][0]
    fill_reference(mapped['gpkg'], {first: 'water' if pts['reference_class'][0] != 'water' else 'tree'})
    assert main(['accuracy', str(mapped['gpkg']), '--class-map', str(mapped['cmap']), '--out-dir', str(acc),
                 '--report', str(mapped['report'])]) == 0
    doc2 = json.loads((acc / 'accuracy.json').read_text(encoding='utf-8'))
    again = mapped['report'].read_text(encoding='utf-8')
    assert again.count('<section class="vnseg-accuracy">') == 1 and accuracy_section_html(doc2, 'en') in again
    assert again.replace(accuracy_section_html(doc2, 'en'), '') == after.replace(section, '')
    fill_reference(mapped['gpkg'], {first: pts['reference_class'][0]})


def test_a_report_that_is_not_the_maps_is_refused_before_anything_is_written(mapped, tmp_path, capsys):
    args = ['accuracy', str(mapped['gpkg']), '--class-map', str(mapped['cmap']), '--out-dir', str(tmp_path / 'a')]
    other = tmp_path / 'other_report.html'
    other.write_text('<html><body><code>x_classes.tif</code></body></html>', encoding='utf-8')
    assert main(args + ['--report', str(other)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'error: {other}: not the report of mosaic_classes.tif (its files do not list it)']
    assert main(args + ['--report', str(tmp_path / 'missing.html')]) == EXIT_USER_ERROR
    assert 'missing.html: no report of vnseg map' in capsys.readouterr().err
    assert not (tmp_path / 'a').exists() and '<section' not in other.read_text(encoding='utf-8')


def test_a_reviewed_sample_is_kept_by_resume_and_never_replaced(mapped, capsys):
    truth = mapped['truth']
    review_from_truth(mapped['gpkg'], truth)
    labels = read_points(mapped['gpkg'])['reference_class'].tolist()
    stamp = mapped['cmap'].stat().st_mtime_ns
    capsys.readouterr()
    assert main(mapped['args'] + ['--resume']) == 0
    printed = capsys.readouterr().out
    assert f'sample    : {mapped["gpkg"]} ({N} points to review; QGIS project mosaic_sample.qgs; kept' in printed
    assert read_points(mapped['gpkg'])['reference_class'].tolist() == labels
    # a new run would replace the reviewer's work: refused before the scene is segmented again
    assert main(mapped['args']) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'error: {mapped["gpkg"]}: holds {N} reviewed label(s)')
    assert read_points(mapped['gpkg'])['reference_class'].tolist() == labels
    assert mapped['cmap'].stat().st_mtime_ns == stamp


def test_a_sample_too_small_for_its_strata_leaves_the_map_and_says_how_to_go_on(mapped, tmp_path, capsys):
    out = tmp_path / 'out'
    args = map_args(mapped['ckpt'], mapped['mosaic'], out, '--zones', mapped['wards'], '--zone-field', 'ward',
                    '--sample', 60, '--no-polygons', '--no-report', '--no-preview')
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f'error: {out / "mosaic_classes.tif"}: --sample 60: 60 points cannot give each of '
                             'the '), err
    assert err[0].endswith(f'vnseg sample {out / "mosaic_classes.tif"} {out / "mosaic_sample.gpkg"} --n N '
                           '(and --min-per-stratum)')
    assert (out / 'mosaic_classes.tif').is_file() and (out / 'mosaic_areas.json').is_file()
    assert not (out / 'mosaic_sample.gpkg').exists()
