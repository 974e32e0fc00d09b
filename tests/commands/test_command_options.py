"""Option objects: every field is the command-line flag of the same name, with the same default."""
from dataclasses import dataclass

import pytest

from vnseg.apis.gis_outputs import OutputOptions
from vnseg.apis.prelabel import PrelabelOptions
from vnseg.commands.flags import options_from_args
from vnseg.data.prepare import PatchOptions, SceneOptions, SplitOptions
from vnseg.geo.vectorize import PolygonOptions
from vnseg.inference.sliding import WindowOptions

MAP_ALL = ['model.onnx', 'mosaic.tif', 'out', '--tile', '256', '--overlap', '32', '--batch-size', '2',
           '--blend', 'mean', '--tta-flip', '--match-gsd', '--classes', 'road', '3', '--min-area', '2',
           '--simplify', '0.1', '--regularize-buildings', '--no-polygons', '--no-gpkg', '--no-preview',
           '--preview-size', '100', '--no-report', '--lang', 'vi', '--zones', 'z.gpkg', '--zone-field', 'commune',
           '--sample', '300', '--no-indicators']


def test_map_flags_fill_the_fields_of_their_names():
    from vnseg.commands.map import map_options, parse_args
    windows, polygons, outputs = map_options(parse_args(MAP_ALL), 256)
    assert windows == WindowOptions(tile=256, overlap=32, batch_size=2, blend='mean', tta_flip=True, match_gsd=True)
    assert polygons == PolygonOptions(classes=('road', '3'), min_area=2.0, simplify=0.1, regularize_buildings=True)
    assert outputs == OutputOptions(polygons=False, gpkg=False, preview=False, preview_size=100, report=False,
                                    lang='vi', zones='z.gpkg', zone_field='commune', sample=300, indicators=False)


def test_map_defaults_are_the_api_defaults():
    from vnseg.commands.map import map_options, parse_args
    assert map_options(parse_args(['model.onnx', 'mosaic.tif', 'out']), 512) == (
        WindowOptions(), PolygonOptions(), OutputOptions())


def test_prepare_and_prelabel_defaults_are_the_api_defaults():
    from vnseg.commands.prelabel import parse_args as prelabel_args
    from vnseg.commands.prepare import build_parser
    args = build_parser().parse_args(['src', '--out-dir', 'out'])
    assert options_from_args(PatchOptions, args) == PatchOptions()
    assert options_from_args(SplitOptions, args) == SplitOptions()
    assert options_from_args(SceneOptions, args) == SceneOptions()
    args = build_parser().parse_args(['src', '-o', 'out', '--patch-size', '64', '--stride', '32', '--edge', 'pad',
                                      '--num-augment', '0', '--split-mode', 'patch', '--ratios', '0.5', '0.5', '0',
                                      '--seed', '3', '--color-table', 'dubai', '--gsd-cm', '4.5', '--labels', 'l.txt'])
    assert options_from_args(PatchOptions, args, background_threshold=None) == PatchOptions(
        patch_size=64, stride=32, edge='pad', background_threshold=None, num_augment=0)
    assert options_from_args(SplitOptions, args) == SplitOptions('patch', (0.5, 0.5, 0.0), 3)
    assert options_from_args(SceneOptions, args) == SceneOptions(labels='l.txt', color_table='dubai', gsd_cm=4.5)
    assert options_from_args(PrelabelOptions, prelabel_args(['c.py', 'c.pth', 'i.png', '--out-dir', 'o'])) == \
        PrelabelOptions()


def test_a_field_without_a_flag_is_an_error():
    import argparse

    @dataclass(frozen=True)
    class Options:
        tile: int = 512
        preview: bool = True
        nope: int = 0

    args = argparse.Namespace(tile=256, no_preview=True)
    with pytest.raises(AttributeError, match='--nope'):
        options_from_args(Options, args)
    assert options_from_args(Options, args, nope=3) == Options(256, False, 3)
    with pytest.raises(AttributeError, match='no field other'):
        options_from_args(Options, args, nope=3, other=1)


def test_polygon_classes_are_resolved_by_name_or_id():
    names = ('background', 'road', 'water', 'tree', 'building')
    assert PolygonOptions().class_ids(names) == [1, 2, 3, 4]       # every class but background
    assert PolygonOptions(classes=['building', 2, '1', 'water']).class_ids(names) == [1, 2, 4]
    assert PolygonOptions(classes=range(5)).class_ids(names) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown class 'roof'"):
        PolygonOptions(classes=['roof']).class_ids(names)
    with pytest.raises(ValueError, match='class id 5 out of range 0..4'):
        PolygonOptions(classes=[5]).class_ids(names)
    # squaring buildings needs a building class (checked with the classes, before any work)
    assert PolygonOptions(regularize_buildings=True).class_ids(names) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match='--regularize-buildings: the model has no class named building'):
        PolygonOptions(regularize_buildings=True).class_ids(('background', 'road', 'tree'))


def test_polygon_defaults_in_the_units_of_the_grid():
    from affine import Affine
    from rasterio.crs import CRS

    from vnseg.geo.areas import PixelAreas
    pixels = PixelAreas(None, Affine.identity(), 10, 10)
    assert pixels.unit == 'px'
    assert PolygonOptions().with_defaults(pixels) == PolygonOptions(min_area=16.0, simplify=0.5)
    assert PolygonOptions(min_area=0, simplify=0).with_defaults(pixels) == PolygonOptions(min_area=0, simplify=0)
    utm = PixelAreas(CRS.from_epsg(32648), Affine(0.5, 0, 500000, 0, -0.5, 2000000), 10, 10)
    d = PolygonOptions().with_defaults(utm)
    assert d.min_area == 1.0
    # half a pixel on the ground: 0.25 m on the projected grid times the UTM scale there (~0.9996)
    assert d.simplify == pytest.approx(0.25 * utm.linear_scale()) and d.simplify == pytest.approx(0.25, rel=1e-3)


def test_compare_grid_confusion_and_export_flags_fill_their_option_objects():
    from vnseg.commands.compare import parse_args as compare_args
    from vnseg.commands.confusion import parse_args as confusion_args
    from vnseg.commands.export import parse_args as export_args
    from vnseg.commands.grid import parse_args as grid_args
    from vnseg.deploy.quantize import QuantizeOptions
    from vnseg.geo.change import ChangeOptions
    from vnseg.reports.figures import ConfusionSource, GridOptions, LoadOptions
    assert options_from_args(ChangeOptions, compare_args(['b.tif', 'a.tif', '--out-dir', 'o'])) == ChangeOptions()
    args = compare_args(['b.tif', 'a.tif', '--out-dir', 'o', '--stem', 'x', '--category', 'n=*>building',
                         '--lang', 'vi', '--zones', 'z.gpkg', '--zone-field', 'ward', '--min-area', '2',
                         '--simplify', '0.1', '--no-polygons', '--no-figure', '--strip-rows', '64'])
    assert options_from_args(ChangeOptions, args) == ChangeOptions(
        stem='x', category=['n=*>building'], lang='vi', zones='z.gpkg', zone_field='ward', min_area=2.0,
        simplify=0.1, polygons=False, figure=False, strip_rows=64)
    args = grid_args(['--model', 'B0', 'c.py', 'c.pth', '--out', 'g.png'])
    assert (options_from_args(GridOptions, args), options_from_args(LoadOptions, args)) == (GridOptions(),
                                                                                           LoadOptions())
    args = grid_args(['--model', 'B0', 'c.py', '--random-weights', '--out', 'g.png', '--img-dir', 'i', '--ann-dir',
                      'a', '--patches', 'p1', 'p2', '--num', '2', '--seed', '5', '--panel-size', '1.5', '--dpi', '60',
                      '--device', 'cuda'])
    assert options_from_args(GridOptions, args) == GridOptions('i', 'a', ['p1', 'p2'], 2, 5, 1.5, 60)
    assert options_from_args(LoadOptions, args) == LoadOptions('cuda', None, True)
    args = confusion_args(['--metrics', 'm.json', '--out-dir', 'o'])
    assert options_from_args(ConfusionSource, args) == ConfusionSource(metrics='m.json')
    assert options_from_args(LoadOptions, args) == LoadOptions()
    args = confusion_args(['c.py', 'c.pth', '--img-dir', 'i', '--ann-dir', 'a', '--limit', '3', '--out-dir', 'o'])
    assert options_from_args(ConfusionSource, args) == ConfusionSource('c.py', 'c.pth', img_dir='i', ann_dir='a',
                                                                       limit=3)
    assert export_args(['c.py', 'c.pth', '--out', 'm.onnx']).int8_weight_bits == QuantizeOptions().weight_bits
