"""QGIS styles for vnseg's outputs: QML documents, ``.qml`` files beside rasters, GeoPackage ``layer_styles``.

QGIS applies a style without any click when

* a ``NAME.qml`` file lies beside a file-based layer ``NAME.tif`` / ``NAME.geojson`` (its "default
  style"), or
* a GeoPackage holds a ``layer_styles`` table (QGIS's GeoPackage styling extension: one row per
  style, ``f_table_name`` = the layer, ``styleQML`` = the QML text, ``useAsDefault`` = 1), which QGIS
  reads when the layer is opened.

Rasters get a *paletted* renderer (one colour and label per class value; the label is the class name
in the chosen language) or, for the confidence raster, a red-to-green *pseudocolour* ramp over
0..100 %. In the class map's style the background class is transparent (its legend entry stays, with
alpha 0: set its opacity in the layer's symbology to paint it), so the orthophoto under the class map
shows through everywhere the model found nothing. Polygon layers get a single fill in the class
colour, half transparent, with the class name as the legend entry (a one-category categorized
renderer on ``class_id``). A layer of numbers (the zone layer of urban indicators) gets a *graduated*
renderer on one field, labels and field aliases (:func:`graduated_polygon_qml`).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Dict, Optional, Sequence
from xml.sax.saxutils import quoteattr

__all__ = ['paletted_raster_qml', 'confidence_raster_qml', 'polygon_layer_qml', 'graduated_polygon_qml',
           'write_qml', 'add_geopackage_styles']

_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_VERSION = '3.28.0-Firenze'


def _hex(rgb) -> str:
    return '#{:02x}{:02x}{:02x}'.format(*(int(v) for v in rgb[:3]))


def paletted_raster_qml(values: Sequence[int], labels: Sequence[str], colours: Sequence[Sequence[int]],
                        opacity: float = 1.0, transparent: Sequence[int] = ()) -> str:
    """QML of a paletted (unique values) renderer for band 1.

    Args:
        values: raster values, e.g. class ids.
        labels: legend text per value.
        colours: RGB (0-255) per value.
        opacity: layer opacity 0..1.
        transparent: values drawn fully transparent (alpha 0; e.g. the background class, so that the
            orthophoto shows through); they keep their colour and legend entry.
    """
    hidden = {int(v) for v in transparent}
    entries = '\n'.join(
        f'        <paletteEntry value="{int(v)}" color="{_hex(c)}" alpha="{0 if int(v) in hidden else 255}" '
        f'label={quoteattr(str(lab))}/>'
        for v, lab, c in zip(values, labels, colours))
    return (_HEAD + f'<qgis version="{_VERSION}" styleCategories="AllStyleCategories">\n'
            '  <pipe>\n'
            f'    <rasterrenderer type="paletted" band="1" opacity="{opacity:g}" alphaBand="-1" nodataColor="">\n'
            '      <rasterTransparency/>\n'
            '      <colorPalette>\n'
            f'{entries}\n'
            '      </colorPalette>\n'
            '    </rasterrenderer>\n'
            '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
            '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" '
            'colorizeGreen="128" colorizeBlue="128" colorizeStrength="100" invertColors="0"/>\n'
            '    <rasterresampler maxOversampling="2"/>\n'
            '  </pipe>\n'
            '  <blendMode>0</blendMode>\n'
            '</qgis>\n')


def confidence_raster_qml(title: str = 'confidence (%)') -> str:
    """QML of a pseudocolour ramp for a 0..100 % confidence band (red = unsure, green = sure)."""
    stops = [(0, (215, 25, 28), '0 %'), (50, (253, 174, 97), '50 %'), (75, (255, 255, 191), '75 %'),
             (90, (166, 217, 106), '90 %'), (100, (26, 150, 65), '100 %')]
    items = '\n'.join(f'          <item value="{v}" color="{_hex(c)}" alpha="255" label={quoteattr(lab)}/>'
                      for v, c, lab in stops)
    return (_HEAD + f'<qgis version="{_VERSION}" styleCategories="AllStyleCategories">\n'
            '  <pipe>\n'
            '    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
            'classificationMin="0" classificationMax="100" nodataColor="">\n'
            '      <rasterTransparency/>\n'
            '      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>'
            '<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>'
            '<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>\n'
            '      <rastershader>\n'
            '        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
            f'minimumValue="0" maximumValue="100" labelPrecision="0">\n'
            f'{items}\n'
            '        </colorrampshader>\n'
            '      </rastershader>\n'
            '    </rasterrenderer>\n'
            '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
            '    <rasterresampler maxOversampling="2"/>\n'
            '  </pipe>\n'
            f'  <layerTitle>{title}</layerTitle>\n'
            '  <blendMode>0</blendMode>\n'
            '</qgis>\n')


def polygon_layer_qml(class_id: int, label: str, rgb: Sequence[int], fill_alpha: int = 150) -> str:
    """QML of a polygon layer holding one class: fill in ``rgb``, legend entry ``label``."""
    fill = ','.join(str(int(v)) for v in rgb[:3])
    outline = ','.join(str(max(0, int(v) - 60)) for v in rgb[:3])
    symbol = (
        '      <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">\n'
        '        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
        '          <Option type="Map">\n'
        f'            <Option name="color" type="QString" value="{fill},{fill_alpha}"/>\n'
        '            <Option name="joinstyle" type="QString" value="miter"/>\n'
        f'            <Option name="outline_color" type="QString" value="{outline},255"/>\n'
        '            <Option name="outline_style" type="QString" value="solid"/>\n'
        '            <Option name="outline_width" type="QString" value="0.26"/>\n'
        '            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
        '            <Option name="style" type="QString" value="solid"/>\n'
        '          </Option>\n'
        '        </layer>\n'
        '      </symbol>\n')
    return (_HEAD + f'<qgis version="{_VERSION}" styleCategories="AllStyleCategories">\n'
            '  <renderer-v2 type="categorizedSymbol" attr="class_id" symbollevels="0" enableorderby="0" '
            'forceraster="0">\n'
            '    <categories>\n'
            f'      <category value="{int(class_id)}" symbol="0" label={quoteattr(str(label))} render="true"/>\n'
            '    </categories>\n'
            '    <symbols>\n'
            f'{symbol}'
            '    </symbols>\n'
            '  </renderer-v2>\n'
            '  <layerGeometryType>2</layerGeometryType>\n'
            '</qgis>\n')


def graduated_polygon_qml(attr: str, ranges: Sequence[tuple], aliases: Optional[Dict[str, str]] = None,
                          label_expression: Optional[str] = None, fill_alpha: int = 150) -> str:
    """QML of a polygon layer coloured by ranges of a numeric field (a graduated renderer), with field
    aliases (the attribute table's column titles) and labels.

    Args:
        attr: the numeric field.
        ranges: ``(lower, upper, rgb, legend label)`` per class, in order (a value on a bound goes to the
            first range holding it; features whose value is NULL or outside every range are not drawn).
        aliases: ``{field: alias}``.
        label_expression: a QGIS expression drawn over each polygon (None: no labels).
        fill_alpha: fill opacity 0..255 (outlines opaque).
    """
    items, symbols = [], []
    for i, (lo, hi, rgb, label) in enumerate(ranges):
        fill = ','.join(str(int(v)) for v in rgb[:3])
        items.append(f'      <range lower="{float(lo)!r}" upper="{float(hi)!r}" symbol="{i}" '
                     f'label={quoteattr(str(label))} render="true"/>')
        symbols.append(
            f'      <symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
            '        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
            '          <Option type="Map">\n'
            f'            <Option name="color" type="QString" value="{fill},{int(fill_alpha)}"/>\n'
            '            <Option name="joinstyle" type="QString" value="miter"/>\n'
            '            <Option name="outline_color" type="QString" value="35,35,35,255"/>\n'
            '            <Option name="outline_style" type="QString" value="solid"/>\n'
            '            <Option name="outline_width" type="QString" value="0.6"/>\n'
            '            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
            '            <Option name="style" type="QString" value="solid"/>\n'
            '          </Option>\n'
            '        </layer>\n'
            '      </symbol>\n')
    labeling = ''
    if label_expression:
        labeling = (
            '  <labeling type="simple">\n'
            '    <settings calloutType="simple">\n'
            f'      <text-style fieldName={quoteattr(label_expression)} isExpression="1" fontSize="10" '
            'fontSizeUnit="Point" textColor="20,20,20,255" fontWeight="75" textOpacity="1" multilineHeight="1">\n'
            '        <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" '
            'bufferOpacity="0.8" bufferNoFill="1" bufferJoinStyle="128"/>\n'
            '      </text-style>\n'
            '      <text-format multilineAlign="1"/>\n'
            '      <placement placement="1" centroidInside="1" centroidWhole="0" fitInPolygonOnly="0" '
            'priority="5" offsetType="0"/>\n'
            '      <rendering drawLabels="1" obstacle="1" displayAll="0" upsidedownLabels="0" labelPerPart="0"/>\n'
            '    </settings>\n'
            '  </labeling>\n')
    alias_xml = ''
    if aliases:
        alias_xml = ('  <aliases>\n' + ''.join(
            f'    <alias field={quoteattr(str(f))} index="{i}" name={quoteattr(str(a))}/>\n'
            for i, (f, a) in enumerate(aliases.items())) + '  </aliases>\n')
    return (_HEAD + f'<qgis version="{_VERSION}" styleCategories="AllStyleCategories" '
            f'labelsEnabled="{1 if label_expression else 0}">\n'
            f'  <renderer-v2 type="graduatedSymbol" attr={quoteattr(attr)} graduatedMethod="GraduatedColor" '
            'symbollevels="0" enableorderby="0" forceraster="0">\n'
            '    <ranges>\n' + '\n'.join(items) + '\n    </ranges>\n'
            '    <symbols>\n' + ''.join(symbols) + '    </symbols>\n'
            '    <classificationMethod id="Custom"/>\n'
            '  </renderer-v2>\n'
            + labeling + alias_xml +
            '  <layerGeometryType>2</layerGeometryType>\n'
            '</qgis>\n')


def write_qml(path, qml: str) -> Path:
    """Write a ``.qml`` file atomically; returns its path."""
    from vnseg.core.atomic import atomic_output
    path = Path(path)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(qml, encoding='utf-8')
    return path


_CREATE = '''CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
    f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
    useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
    update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))'''


def add_geopackage_styles(gpkg_path, styles: Dict[str, str], geometry_column: Optional[str] = None,
                          description: str = 'vnseg') -> None:
    """Store ``{layer name: QML}`` as the default QGIS styles of a GeoPackage's layers.

    Creates the ``layer_styles`` table if needed and registers it in ``gpkg_contents`` as an
    attributes table (as QGIS and GDAL do), so GDAL opens the file without complaints.
    """
    con = sqlite3.connect(str(gpkg_path))
    try:
        cur = con.cursor()
        cur.execute(_CREATE)
        cur.execute("SELECT count(*) FROM gpkg_contents WHERE table_name = 'layer_styles'")
        if cur.fetchone()[0] == 0:
            cur.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles')")
        geom_cols = dict(cur.execute('SELECT table_name, column_name FROM gpkg_geometry_columns').fetchall())
        for layer, qml in styles.items():
            cur.execute('DELETE FROM layer_styles WHERE f_table_name = ?', (layer,))
            cur.execute('INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, '
                        'f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, '
                        "owner, ui) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
                        (layer, geometry_column or geom_cols.get(layer, 'geom'), layer, qml, description))
        con.commit()
    finally:
        con.close()
