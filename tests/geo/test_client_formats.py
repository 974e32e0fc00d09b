"""What QGIS 3.22 and its GDAL 3.6 need from vnseg's files, checked without QGIS (tests/clients/ opens
them in QGIS itself): a GeoPackage 1.2 file, a class-map style with a transparent background."""
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pyogrio = pytest.importorskip('pyogrio')
shapely = pytest.importorskip('shapely')
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402

from vnseg.core.classes import CLASSES, PALETTE  # noqa: E402
from vnseg.geo.georef import Georef  # noqa: E402


def test_geopackage_is_version_1_2_with_its_styles(tmp_path):
    from vnseg.geo.layers import GeoPackageWriter, layer_fields
    from vnseg.geo.styles import polygon_layer_qml
    g = Georef.of(CRS.from_epsg(32648), Affine(0.5, 0, 500000, 0, -0.5, 2000000), 40, 40)
    gp = GeoPackageWriter(tmp_path / 'm.gpkg', g)
    fields = layer_fields('m2')
    for c in (1, 4):
        lay = gp.layer(CLASSES[c], fields)
        lay.add(shapely.box(500000, 1999990, 500000 + c, 2000000),
                dict(class_id=c, **{'class': CLASSES[c]}, area_m2=10.0 * c, area_ha=c / 1000, confidence=90.0, cut=0))
    gp.layer(CLASSES[2], fields)  # an empty layer, written too
    path = gp.close({CLASSES[c]: polygon_layer_qml(c, CLASSES[c], PALETTE[c]) for c in (1, 2, 4)})
    con = sqlite3.connect(str(path))
    try:
        # GeoPackage 1.2 (10200), the version GDAL 3.6 writes itself; 1.4 (10400) makes it warn on every open
        assert con.execute('PRAGMA user_version').fetchone()[0] == 10200
        assert con.execute('PRAGMA application_id').fetchone()[0] == 0x47504B47  # 'GPKG'
        styles = dict(con.execute('SELECT f_table_name, useAsDefault FROM layer_styles').fetchall())
    finally:
        con.close()
    assert styles == {'road': 1, 'water': 1, 'building': 1}
    layers = {str(n): g for n, g in pyogrio.list_layers(str(path))}
    assert layers == {'road': 'Polygon', 'building': 'Polygon', 'water': 'Polygon', 'layer_styles': None}
    meta, _, geoms, values = pyogrio.raw.read(str(path), layer='building')
    assert len(geoms) == 1 and shapely.from_wkb(geoms[0]).area == pytest.approx(40.0)
    assert list(values[meta['fields'].tolist().index('area_m2')]) == [40.0]


def test_class_map_style_leaves_background_transparent():
    from vnseg.geo.styles import paletted_raster_qml
    qml = paletted_raster_qml(range(5), CLASSES, PALETTE, transparent=[0])
    entries = ET.fromstring(qml.split('\n', 1)[1]).findall('pipe/rasterrenderer/colorPalette/paletteEntry')
    assert [(e.get('value'), e.get('alpha')) for e in entries] == [
        ('0', '0'), ('1', '255'), ('2', '255'), ('3', '255'), ('4', '255')]
    # the background keeps its colour and legend entry: one opacity setting in QGIS paints it again
    assert (entries[0].get('label'), entries[0].get('color')) == ('background', '#000000')
    plain = ET.fromstring(paletted_raster_qml(range(2), ['a', 'b'], PALETTE[:2]).split('\n', 1)[1])
    assert [e.get('alpha') for e in plain.iter('paletteEntry')] == ['255', '255']


def test_written_class_map_style_hides_background_only(tmp_path):
    import rasterio

    from vnseg.apis.gis_outputs import OutputOptions, write_gis_outputs
    from vnseg.apis.scene_paths import ScenePaths
    from vnseg.geo.areas import ClassAreaCounter, PixelAreas
    arr = np.zeros((20, 30), np.uint8)
    arr[5:15, 5:25] = 3
    t = Affine(0.5, 0, 500000, 0, -0.5, 2000000)
    path = tmp_path / 's_classes.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=30, height=20, count=1, dtype='uint8', crs='EPSG:32648',
                       transform=t, nodata=255) as d:
        d.write(arr, 1)
    counter = ClassAreaCounter(PixelAreas(CRS.from_epsg(32648), t, 30, 20))
    counter.update(0, arr)
    out = write_gis_outputs(ScenePaths(tmp_path, 's'), CLASSES, PALETTE, counter,
                            outputs=OutputOptions(report=False, gpkg=False))
    qml = out['styles'][0].read_text(encoding='utf-8')
    entries = ET.fromstring(qml.split('\n', 1)[1]).findall('pipe/rasterrenderer/colorPalette/paletteEntry')
    assert [e.get('alpha') for e in entries] == ['0', '255', '255', '255', '255']
