"""The review form of a sample: a GeoPackage point layer QGIS opens ready to label, and a project.

The GeoPackage (GeoPackage 1.2, as :mod:`vnseg.geo.layers` writes) holds the layer
:data:`LAYER` in the class map's CRS, with the fields :data:`FIELDS` (``zone`` too with zone strata).
Class values are English class names; ``reference_class`` starts empty (NULL). Its default QGIS style,
stored in the GeoPackage's ``layer_styles`` table (:func:`vnseg.geo.styles.add_geopackage_styles`), so
that QGIS applies it with no click, holds

* the form: ``reference_class`` edited with a drop-down (``ValueMap`` editor widget) of the class names,
  labelled in English or Vietnamese, storing the English name; the other fields read-only; field
  aliases in the chosen language;
* the symbols: a ring in the colour of the point's map class (white halo), so the pixel under the point
  stays visible.

The sampling design (grid, options, strata and their areas) is stored as the layer's GDAL metadata item
:data:`DESIGN_KEY` (JSON), which ``vnseg accuracy`` reads back.

:func:`write_review_project` writes a QGIS project (``.qgs``, relative paths) beside the GeoPackage: the
points over the mosaic (and the class map, hidden), with the same form and style.
"""
from __future__ import annotations

import json
import os
import uuid
import warnings
from pathlib import Path
from typing import List, Optional, Sequence
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from vnseg.core.classes import PALETTE, class_names

__all__ = ['LAYER', 'FIELDS', 'DESIGN_KEY', 'review_form_qml', 'write_sample_gpkg', 'write_review_project',
           'FIELD_ALIASES']

#: Name of the point layer.
LAYER = 'sample_points'

#: Fields of the point layer, in order (``zone`` is added after them with zone strata).
FIELDS = ('sample_id', 'stratum', 'map_class', 'reference_class', 'x', 'y', 'row', 'col')

#: GDAL metadata item of the layer holding the design (JSON).
DESIGN_KEY = 'VNSEG_SAMPLE_DESIGN'

#: Field names shown in the form, per language (aliases).
FIELD_ALIASES = {
    'en': dict(sample_id='sample id', stratum='stratum', map_class='map class', reference_class='reference class',
               x='x', y='y', row='row', col='column', zone='zone'),
    'vi': dict(sample_id='mã điểm', stratum='tầng mẫu', map_class='lớp trên bản đồ',
               reference_class='lớp tham chiếu', x='x', y='y', row='hàng', col='cột', zone='khu vực'),
}

_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_VERSION = '3.22.16-Białowieża'


def _opt(name: str, value) -> str:
    return f'<Option name={quoteattr(name)} type="QString" value={quoteattr(str(value))}/>'


def _ring_symbol(index: int, rgb: Sequence[int]) -> str:
    """A marker symbol: white halo ring under a ring of ``rgb``, hollow (the pixel stays visible)."""
    def layer(colour, size, width):
        props = dict(angle='0', color='255,255,255,0', horizontal_anchor_point='1', joinstyle='bevel',
                     name='circle', offset='0,0', offset_unit='MM', outline_color=colour, outline_style='solid',
                     outline_width=width, outline_width_unit='MM', scale_method='diameter', size=size,
                     size_unit='MM', vertical_anchor_point='1')
        return ('        <layer class="SimpleMarker" enabled="1" locked="0" pass="0">\n'
                '          <Option type="Map">' + ''.join(_opt(k, v) for k, v in props.items()) + '</Option>\n'
                '        </layer>\n')
    colour = ','.join(str(int(v)) for v in rgb[:3]) + ',255'
    return (f'      <symbol type="marker" name="{index}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
            + layer('255,255,255,255', '4.6', '0.5') + layer(colour, '4', '0.8') + '      </symbol>\n')


def review_form_qml(classes: Sequence[str], lang: str = 'en', palette: Sequence[Sequence[int]] = PALETTE,
                    zone_field: bool = False) -> str:
    """QML of the sample layer: categorized ring symbols by ``map_class``, the ``reference_class``
    drop-down (labels in ``lang``, values = ``classes``), read-only other fields, aliases in ``lang``.

    Args:
        classes: English class names (stored values), index = class id.
        lang: ``'en'`` or ``'vi'``: labels of the drop-down, legend and field aliases.
        palette: RGB per class.
        zone_field: the layer has a ``zone`` field.
    """
    labels = class_names(lang, classes)
    aliases = FIELD_ALIASES.get(lang, FIELD_ALIASES['en'])
    fields = list(FIELDS) + (['zone'] if zone_field else [])
    cats = '\n'.join(f'      <category value={quoteattr(c)} symbol="{i}" label={quoteattr(lab)} render="true"/>'
                     for i, (c, lab) in enumerate(zip(classes, labels)))
    symbols = ''.join(_ring_symbol(i, palette[i] if i < len(palette) else (128, 128, 128))
                      for i in range(len(classes)))
    value_map = ''.join(f'<Option type="Map">{_opt(lab, c)}</Option>' for c, lab in zip(classes, labels))
    field_cfg = []
    for f in fields:
        if f == 'reference_class':
            widget = ('<editWidget type="ValueMap"><config><Option type="Map">'
                      f'<Option name="map" type="List">{value_map}</Option></Option></config></editWidget>')
        else:
            widget = '<editWidget type="TextEdit"><config><Option/></config></editWidget>'
        field_cfg.append(f'    <field name={quoteattr(f)} configurationFlags="None">{widget}</field>')
    alias_xml = '\n'.join(f'    <alias field={quoteattr(f)} index="{i + 1}" name={quoteattr(aliases.get(f, f))}/>'
                          for i, f in enumerate(fields))
    editable = '\n'.join(f'    <field name={quoteattr(f)} editable="{int(f == "reference_class")}"/>'
                         for f in ['fid'] + fields)
    return (_HEAD + f'<qgis version="{_VERSION}" styleCategories="AllStyleCategories">\n'
            '  <renderer-v2 type="categorizedSymbol" attr="map_class" symbollevels="0" enableorderby="0" '
            'forceraster="0">\n'
            f'    <categories>\n{cats}\n    </categories>\n'
            f'    <symbols>\n{symbols}    </symbols>\n'
            '  </renderer-v2>\n'
            '  <fieldConfiguration>\n' + '\n'.join(field_cfg) + '\n  </fieldConfiguration>\n'
            f'  <aliases>\n{alias_xml}\n  </aliases>\n'
            f'  <editable>\n{editable}\n  </editable>\n'
            '  <editorlayout>generatedlayout</editorlayout>\n'
            '  <previewExpression>"sample_id"</previewExpression>\n'
            '  <layerGeometryType>0</layerGeometryType>\n'
            '</qgis>\n')


def write_sample_gpkg(path, points, table, georef, lang: str, design: dict) -> Path:
    """Write the sample's GeoPackage atomically: the point layer, its style and form, the design.

    Args:
        path: the ``.gpkg`` to write.
        points: :class:`vnseg.geo.sampling.SamplePoints`.
        table: :class:`vnseg.geo.sampling.StrataTable` (stratum labels, classes, zones).
        georef: the class map's :class:`vnseg.geo.georef.Georef` (the layer's CRS).
        lang: labels of the form (``'en'`` / ``'vi'``).
        design: the design record stored as the layer's metadata.
    """
    import shapely
    from pyogrio.raw import write
    from vnseg.core.atomic import atomic_output
    from .layers import GPKG_VERSION
    from .styles import add_geopackage_styles
    n = len(points)
    strata = np.asarray(points.stratum)
    classes = table.classes
    columns = {
        'sample_id': np.asarray(points.sample_id, np.int32),
        'stratum': np.array([table.label(h) for h in strata], dtype=object),
        'map_class': np.array([classes[h % table.n_classes] for h in strata], dtype=object),
        'reference_class': np.array([None] * n, dtype=object),
        'x': np.asarray(points.x, np.float64),
        'y': np.asarray(points.y, np.float64),
        'row': np.asarray(points.row, np.int32),
        'col': np.asarray(points.col, np.int32),
    }
    if table.zone_names is not None:
        columns['zone'] = np.array([table.zone_of(h) for h in strata], dtype=object)
    geoms = shapely.to_wkb(shapely.points(np.asarray(points.x), np.asarray(points.y)))
    crs = georef.crs.to_wkt() if georef.crs is not None else None
    path = Path(path)
    with atomic_output(path) as tmp, warnings.catch_warnings():
        # a map without a CRS gives a layer without one, on purpose (pixel or world-file coordinates)
        warnings.filterwarnings('ignore', message="'crs' was not provided", category=UserWarning)
        write(str(tmp), np.asarray(geoms, dtype=object), list(columns.values()), list(columns), layer=LAYER,
              driver='GPKG', geometry_type='Point', crs=crs, dataset_options={'VERSION': GPKG_VERSION},
              layer_metadata={DESIGN_KEY: json.dumps(design, ensure_ascii=False)})
        add_geopackage_styles(tmp, {LAYER: review_form_qml(classes, lang, zone_field=table.zone_names is not None)},
                              description='vnseg review form')
    return path


# ------------------------------------------------------------------------------------------------
# QGIS project
# ------------------------------------------------------------------------------------------------
def _srs_xml(crs) -> str:
    if crs is None:
        return ('<spatialrefsys><wkt></wkt><proj4></proj4><srsid>0</srsid><srid>0</srid><authid></authid>'
                '</spatialrefsys>')
    epsg = crs.to_epsg()
    auth = f'EPSG:{epsg}' if epsg else ''
    return (f'<spatialrefsys nativeFormat="Wkt"><wkt>{escape(crs.to_wkt())}</wkt>'
            f'<proj4>{escape(crs.to_proj4())}</proj4><srid>{epsg or 0}</srid><authid>{auth}</authid>'
            '<description></description></spatialrefsys>')


def _qml_body(qml: str) -> str:
    """The elements inside a QML document's ``<qgis>`` root, as text (they go inside a ``<maplayer>``)."""
    root = ET.fromstring(qml.split('\n', 1)[1] if qml.startswith('<!DOCTYPE') else qml)
    return ''.join(ET.tostring(child, encoding='unicode') for child in root)


def _rel(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` as QGIS reads it (``./`` or ``../`` first), absolute across drives."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())
    rel = rel.replace(os.sep, '/')
    return rel if rel.startswith('../') else './' + rel


def _mosaic_pipe(image: Path) -> str:
    import rasterio
    from rasterio.enums import ColorInterp
    with rasterio.open(image) as ds:
        interp = list(ds.colorinterp)
        count = ds.count
    if count >= 3:
        alpha = interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else -1
        renderer = (f'<rasterrenderer type="multibandcolor" opacity="1" alphaBand="{alpha}" redBand="1" '
                    'greenBand="2" blueBand="3" nodataColor=""><rasterTransparency/></rasterrenderer>')
    else:
        renderer = ('<rasterrenderer type="singlebandgray" opacity="1" alphaBand="-1" grayBand="1" '
                    'gradient="BlackToWhite" nodataColor=""><rasterTransparency/></rasterrenderer>')
    return (f'<pipe>{renderer}<brightnesscontrast brightness="0" contrast="0" gamma="1"/>'
            '<rasterresampler maxOversampling="2"/></pipe>')


def _maplayer(kind: str, layer_id: str, source: str, name: str, provider: str, crs, body: str,
              geometry: str = '') -> str:
    geom = f' geometry={quoteattr(geometry)}' if geometry else ''
    return (f'<maplayer type="{kind}"{geom}><id>{escape(layer_id)}</id><datasource>{escape(source)}</datasource>'
            f'<layername>{escape(name)}</layername><srs>{_srs_xml(crs)}</srs>'
            f'<provider encoding="UTF-8">{provider}</provider>{body}</maplayer>')


def write_review_project(qgs_path, gpkg_path, cm, points, lang: str, mosaic: Optional[Path] = None,
                         zone_field: bool = False) -> Path:
    """Write a QGIS project (relative paths) that opens the sample points over the mosaic.

    Layers, top to bottom: the points (form and style of :func:`review_form_qml`), the class map
    (paletted, hidden when the mosaic is there), the mosaic (RGB, when known).

    Args:
        qgs_path: the ``.qgs`` to write.
        gpkg_path: the sample's GeoPackage.
        cm: the class map (:class:`vnseg.geo.sampling.ClassMap`).
        points: the sample points (the canvas opens on their extent).
        lang: labels (``'en'`` / ``'vi'``).
        mosaic: the mosaic, or None.
        zone_field: the layer has a ``zone`` field (zone strata).
    """
    from vnseg.core.atomic import atomic_write_text
    from .styles import paletted_raster_qml
    qgs_path = Path(qgs_path)
    folder = qgs_path.parent
    crs = cm.crs
    names = class_names(lang, cm.classes)
    layers: List[tuple] = []  # (id, name, source, provider, checked, xml)
    pid = f'{LAYER}_{uuid.uuid4().hex[:8]}'
    src = f'{_rel(gpkg_path, folder)}|layername={LAYER}'
    qml = review_form_qml(cm.classes, lang, zone_field=zone_field)
    layers.append((pid, 'sample' if lang == 'en' else 'điểm mẫu', src, 'ogr', True,
                   _maplayer('vector', pid, src, 'sample' if lang == 'en' else 'điểm mẫu', 'ogr', crs,
                             _qml_body(qml), 'Point')))
    cid = f'class_map_{uuid.uuid4().hex[:8]}'
    csrc = _rel(cm.path, folder)
    cname = cm.path.stem
    cqml = paletted_raster_qml(range(len(names)), names, PALETTE[:len(names)], opacity=0.6)
    layers.append((cid, cname, csrc, 'gdal', mosaic is None,
                   _maplayer('raster', cid, csrc, cname, 'gdal', crs, _qml_body(cqml))))
    if mosaic is not None:
        mid = f'mosaic_{uuid.uuid4().hex[:8]}'
        msrc = _rel(mosaic, folder)
        layers.append((mid, Path(mosaic).stem, msrc, 'gdal', True,
                       _maplayer('raster', mid, msrc, Path(mosaic).stem, 'gdal', crs, _mosaic_pipe(Path(mosaic)))))
    tree = ''.join(f'<layer-tree-layer id={quoteattr(i)} name={quoteattr(nm)} source={quoteattr(s)} '
                   f'providerKey="{p}" checked="{"Qt::Checked" if on else "Qt::Unchecked"}" expanded="1">'
                   '<customproperties/></layer-tree-layer>' for i, nm, s, p, on, _ in layers)
    if len(points):
        x0, x1 = float(np.min(points.x)), float(np.max(points.x))
        y0, y1 = float(np.min(points.y)), float(np.max(points.y))
        pad = 0.05 * max(x1 - x0, y1 - y0) + 10 * abs(cm.transform.a)
        extent = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    else:
        from rasterio.transform import array_bounds
        west, south, east, north = array_bounds(cm.height, cm.width, cm.transform)
        extent = (west, south, east, north)
    units = 'meters' if crs is not None and crs.is_projected else ('degrees' if crs is not None else 'unknown')
    title = f'{Path(gpkg_path).stem}: review'
    doc = (_HEAD + f'<qgis projectname={quoteattr(title)} version="{_VERSION}">'
           f'<homePath path=""/><title>{escape(title)}</title>'
           f'<projectCrs>{_srs_xml(crs)}</projectCrs>'
           f'<layer-tree-group><customproperties/>{tree}</layer-tree-group>'
           '<mapcanvas name="theMapCanvas" annotationsVisible="1">'
           f'<units>{units}</units><extent><xmin>{extent[0]!r}</xmin><ymin>{extent[1]!r}</ymin>'
           f'<xmax>{extent[2]!r}</xmax><ymax>{extent[3]!r}</ymax></extent><rotation>0</rotation>'
           f'<destinationsrs>{_srs_xml(crs)}</destinationsrs><rendermaptile>0</rendermaptile></mapcanvas>'
           '<ProjectViewSettings UseProjectScales="0" rotation="0"><Scales/>'
           f'<DefaultViewExtent xmin="{extent[0]!r}" ymin="{extent[1]!r}" xmax="{extent[2]!r}" ymax="{extent[3]!r}">'
           f'{_srs_xml(crs)}</DefaultViewExtent></ProjectViewSettings>'
           '<projectlayers>' + ''.join(x for *_, x in layers) + '</projectlayers>'
           '<properties><Paths><Absolute type="bool">false</Absolute></Paths></properties>'
           '</qgis>\n')
    atomic_write_text(qgs_path, doc)
    return qgs_path
