"""The QGIS side of the client tests: run under the system python of a QGIS install, not the project venv.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/clients/qgis_side.py COMMAND ARGS.json

It imports only QGIS (``qgis.core``, ``qgis.gui``), GDAL's python bindings, numpy and, for ``deepness``,
the Deepness plugin from its source folder (put on ``sys.path``, never copied). It measures and reports;
the assertions are the pytest side's (tests/clients/test_clients.py), which knows vnseg's classes and
palette. The result is one JSON line on stdout, prefixed with :data:`MARK` (QGIS prints its own lines).

Commands (ARGS.json keys):

* ``deepness`` (``model``, ``ortho``, ``deepness_src``, ``out_npy``): Deepness' dock widget as a GUI
  user drives it -- pick the ortho layer, pick the ONNX file (the plugin loads it with its own model
  classes), press "Load default parameters" (the model's metadata), process the entire layer -- then
  its ``MapProcessorSegmentation`` run headless, as the plugin's own tests do. Writes the class map
  (``uint8 (H, W)``, Deepness' values: class id + 1, 0 = not processed) to ``out_npy``; reports the
  metadata Deepness read, the parameters the widget produced and the processed extent.
* ``layers`` (``ortho``, ``classes``, ``confidence``, ``gpkg``, ``gpkg_layers``, ``geojson``, ``png_dir``):
  opens vnseg's rasters and vector layers as QGIS layers (their default styles applied by QGIS itself),
  reports renderers, categories, colours, labels, CRSs, feature counts and QGIS' ellipsoidal areas, and
  renders three PNGs on the ortho's grid (one PNG pixel = one raster pixel).
* ``gdal`` (``paths``): opens each file with GDAL/OGR (every layer, every feature) and returns the
  warnings and errors GDAL emitted.
* ``zones`` (``ortho``, ``gpkg``, ``zone_layer``, ``class_layers``, ``png_dir``): the zone layer of urban
  indicators with its default style (graduated renderer, labels, field aliases) and its features' values; the
  class layers' styles; renders of the zones over the class layers and the ortho, and over the ortho alone.
* ``review_form`` (``gpkg``, ``project``, ``png_dir``, ``edit``, ``form_id``): the sample's review form --
  the layer's default style and form, the ``reference_class`` drop-down as QGIS builds it, labels picked in
  it and saved, the form and the project rendered to PNGs, the project's layers.
"""
import json
import os
import sys

MARK = 'VNSEG_CLIENT_RESULT '


def _app(gui: bool):
    os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
    from qgis.core import QgsApplication
    app = QgsApplication([], gui)
    QgsApplication.setPrefixPath('/usr', True)
    app.initQgis()
    return app


def _log_collector():
    """QGIS message-log entries (tag, level, text) while the returned list lives."""
    from qgis.core import QgsApplication
    entries = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda msg, tag, level: entries.append([str(tag), int(level), str(msg)]))
    return entries


def _rgba(colour):
    return [colour.red(), colour.green(), colour.blue(), colour.alpha()]


def deepness(args):
    """Deepness' model loading + map processor on the ortho, with the settings of its widget."""
    import numpy as np
    app = _app(gui=True)
    sys.path.insert(0, args['deepness_src'])
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.gui import QgsMapCanvas

    from deepness.common.processing_overlap import ProcessingOverlapOptions
    from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType
    from deepness.deepness_dockwidget import DeepnessDockWidget
    from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation

    rlayer = QgsRasterLayer(args['ortho'], 'ortho', 'gdal')
    if not rlayer.isValid():
        raise RuntimeError(f'QGIS cannot open {args["ortho"]}')
    QgsProject.instance().addMapLayer(rlayer)
    dock = DeepnessDockWidget(iface=None)
    dock.mMapLayerComboBox_inputLayer.setLayer(rlayer)
    dock.lineEdit_modelPath.setText(args['model'])
    dock._load_model_and_display_info()               # what "Browse" does once a file is chosen
    model = dock._model
    if model is None:
        raise RuntimeError('Deepness did not load the model: ' + dock.label_modelInfo.text())
    dock.pushButton_loadDefaultModelParameters.click()  # "Load default parameters" (model metadata)
    dock.comboBox_processedAreaSelection.setCurrentText(ProcessedAreaType.ENTIRE_LAYER.value)
    params = dock.get_inference_parameters()
    overlap = params.processing_overlap
    report = dict(
        model_class=type(model).__name__,
        model_type_metadata=model.get_metadata_model_type(),
        model_type_selected=dock.comboBox_modelType.currentText(),
        class_names=model.get_outputs_channel_names(),
        output_channels=model.get_number_of_output_channels(),
        outputs_are_sigmoid=[bool(v) for v in model.outputs_are_sigmoid],
        input_shape=[v if isinstance(v, int) else str(v) for v in model.get_input_shape()],
        resolution_metadata=model.get_metadata_resolution(),
        tile_size_metadata=model.get_metadata_tile_size(),
        tiles_overlap_metadata=model.get_metadata_tiles_overlap(),
        seg_thresh_metadata=model.get_metadata_segmentation_threshold(),
        seg_small_segment_metadata=model.get_metadata_segmentation_small_segment(),
        standardization_mean=[float(v) for v in np.ravel(model.standardization_parameters.mean)],
        standardization_std=[float(v) for v in np.ravel(model.standardization_parameters.std)],
        params=dict(
            resolution_cm_per_px=params.resolution_cm_per_px, tile_size_px=params.tile_size_px,
            batch_size=params.batch_size, processed_area_type=params.processed_area_type.value,
            overlap_option=overlap.selected_option.name,
            overlap_percentage=dock.spinBox_processingTileOverlapPercentage.value()
            if overlap.selected_option == ProcessingOverlapOptions.OVERLAP_IN_PERCENT else None,
            overlap_px=params.processing_overlap_px,
            probability_threshold=params.pixel_classification__probability_threshold,
            dilate_erode_size=params.postprocessing_dilate_erode_size,
            model_inputs=params.input_channels_mapping.get_number_of_model_inputs()),
    )
    processor = MapProcessorSegmentation(rlayer=rlayer, vlayer_mask=None, map_canvas=QgsMapCanvas(),
                                         params=params)
    processor.run()
    result = processor._processing_result
    if type(result).__name__ != 'MapProcessingResultSuccess':
        raise RuntimeError(f'Deepness processing failed: {getattr(result, "message", result)}')
    img = processor.get_result_img()
    np.save(args['out_npy'], np.asarray(img[0], dtype=np.uint8))
    ext = processor.base_extent
    report.update(result_shape=list(img.shape), message=result.message,
                  base_extent=[ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()],
                  units_per_pixel=processor.rlayer_units_per_pixel,
                  layer_crs=rlayer.crs().authid())
    del dock, app
    return report


def _render(layers, extent, crs, size, path):
    """Render ``layers`` (top first) over white to a PNG of ``size`` (width, height) pixels."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor
    ms = QgsMapSettings()
    ms.setLayers(layers)
    ms.setDestinationCrs(crs)
    ms.setOutputSize(QSize(*size))
    ms.setExtent(extent)
    ms.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(ms)
    job.start()
    job.waitForFinished()
    if not job.renderedImage().save(path, 'PNG'):
        raise RuntimeError(f'cannot write {path}')
    return dict(path=path, errors=[e.message for e in job.errors()])


def _raster(path, name):
    from qgis.core import QgsRasterLayer
    lay = QgsRasterLayer(path, name, 'gdal')
    if not lay.isValid():
        raise RuntimeError(f'QGIS cannot open {path}: {lay.error().summary()}')
    prov = lay.dataProvider()
    info = dict(valid=True, crs=lay.crs().authid(), width=lay.width(), height=lay.height(),
                renderer=lay.renderer().type(), bands=lay.bandCount(),
                overviews=sum(1 for p in prov.buildPyramidList() if p.getExists()),
                nodata=prov.sourceNoDataValue(1) if prov.sourceHasNoDataValue(1) else None)
    return lay, info


def _areas(lay):
    """Feature count, attribute sums and QGIS' ellipsoidal areas (WGS84, m^2) of a polygon layer."""
    from qgis.core import QgsDistanceArea, QgsProject
    da = QgsDistanceArea()
    da.setSourceCrs(lay.crs(), QgsProject.instance().transformContext())
    da.setEllipsoid('WGS84')
    n, qgis_sum, attr_sum, worst = 0, 0.0, 0.0, 0.0
    names = set()
    has_area = 'area_m2' in lay.fields().names()
    has_class = 'class' in lay.fields().names()
    for f in lay.getFeatures():
        a = da.measureArea(f.geometry())
        n += 1
        qgis_sum += a
        if has_class:
            names.add(str(f['class']))
        if has_area:
            attr = float(f['area_m2'])
            attr_sum += attr
            if attr >= 1.0:
                worst = max(worst, abs(a - attr) / attr)
    return dict(features=n, qgis_area_m2=qgis_sum, attr_area_m2=attr_sum, worst_feature_rel_diff=worst,
                class_values=sorted(names))


def _vector(uri, name):
    from qgis.core import QgsVectorLayer
    lay = QgsVectorLayer(uri, name, 'ogr')
    if not lay.isValid():
        raise RuntimeError(f'QGIS cannot open {uri}')
    r = lay.renderer()  # None for a layer without geometry (QGIS reads an empty GeoJSON so)
    info = dict(valid=True, crs=lay.crs().authid(), renderer=r.type() if r else None,
                geometry_type=int(lay.geometryType()))
    if r is not None and r.type() == 'categorizedSymbol':
        info['class_attribute'] = r.classAttribute()
        info['categories'] = [dict(value=c.value(), label=c.label(), rgba=_rgba(c.symbol().color()),
                                   outline_rgba=_rgba(c.symbol().symbolLayer(0).strokeColor()))
                              for c in r.categories()]
    info.update(_areas(lay))
    return lay, info


def _gpkg_vectors(gpkg, names):
    """The GeoPackage's layers ``names`` opened as QGIS does: ({name: what _vector saw}, [layers])."""
    infos, layers = {}, []
    for name in names:
        lay, infos[name] = _vector(f'{gpkg}|layername={name}', name)
        layers.append(lay)
    return infos, layers


def layers(args):
    """vnseg's outputs as QGIS layers: default styles, areas, three renders."""
    from qgis.core import QgsProject
    app = _app(gui=False)
    log = _log_collector()
    ortho, ortho_info = _raster(args['ortho'], 'ortho')
    classes, classes_info = _raster(args['classes'], 'classes')
    r = classes.renderer()
    if r.type() == 'paletted':
        classes_info['palette'] = [dict(value=c.value, label=c.label, rgba=_rgba(c.color)) for c in r.classes()]
    conf, conf_info = _raster(args['confidence'], 'confidence')
    r = conf.renderer()
    if r.type() == 'singlebandpseudocolor':
        fn = r.shader().rasterShaderFunction()
        conf_info.update(min=r.classificationMin(), max=r.classificationMax(),
                         ramp_type=int(fn.colorRampType()),
                         ramp=[dict(value=i.value, rgba=_rgba(i.color), label=i.label) for i in fn.colorRampItemList()])
    gpkg, vlayers = _gpkg_vectors(args['gpkg'], args['gpkg_layers'])
    geojson = {}
    for path in args.get('geojson', []):
        geojson[os.path.basename(path)] = _vector(path, os.path.basename(path))[1]
    for lay in [ortho, classes, conf, *vlayers]:
        QgsProject.instance().addMapLayer(lay, False)
    extent, crs, size = ortho.extent(), ortho.crs(), (ortho.width(), ortho.height())
    png = args['png_dir']
    renders = dict(
        classes_over_ortho=_render([classes, ortho], extent, crs, size, os.path.join(png, 'classes_over_ortho.png')),
        polygons_over_ortho=_render([*vlayers, ortho], extent, crs, size, os.path.join(png, 'polygons_over_ortho.png')),
        confidence=_render([conf], extent, crs, size, os.path.join(png, 'confidence.png')))
    report = dict(ortho=ortho_info, classes=classes_info, confidence=conf_info, gpkg=gpkg, geojson=geojson,
                  renders=renders, log=log, extent=[extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                                                    extent.yMaximum()])
    QgsProject.instance().removeAllMapLayers()
    del ortho, classes, conf, vlayers, app
    return report


def gdal(args):
    """GDAL/OGR warnings and errors while opening and reading every layer and feature of each file."""
    from osgeo import gdal as gdal_, ogr
    out = {}
    for path in args['paths']:
        messages = []

        def handler(level, number, text, messages=messages):
            if level >= gdal_.CE_Warning:
                messages.append([int(level), int(number), str(text)])

        gdal_.PushErrorHandler(handler)
        try:
            ds = gdal_.OpenEx(path)
            counts = {}
            if ds is not None and ds.GetLayerCount():
                for i in range(ds.GetLayerCount()):
                    lay = ds.GetLayer(i)
                    counts[lay.GetName()] = sum(1 for _ in lay)
            elif ds is not None:
                ds.GetRasterBand(1).Checksum()
            del ds
            # the same as ogrinfo, a second time (warnings came once per access)
            ds = ogr.Open(path) if counts else None
            del ds
        finally:
            gdal_.PopErrorHandler()
        out[path] = dict(messages=messages, layers=counts)
    return dict(gdal_version=gdal_.__version__, files=out)


def review_form(args):
    """The sample's review form as a reviewer meets it: the GeoPackage layer (default style and form applied
    by QGIS), its ``reference_class`` drop-down built by QGIS' editor widget registry, labels picked in it
    and saved (``edit``: ``{sample_id: drop-down index}``), the form and the points rendered, the project."""
    from qgis.core import QgsFeatureRequest, QgsProject
    from qgis.gui import QgsAttributeForm, QgsGui
    app = _app(gui=True)
    log = _log_collector()
    QgsGui.editorWidgetRegistry().initEditors()
    lay, info = _vector(f'{args["gpkg"]}|layername=sample_points', 'sample')
    r = lay.renderer()
    if r is not None and r.type() == 'categorizedSymbol':
        for cat, c in zip(info['categories'], r.categories()):
            sym = c.symbol()
            cat['layers'] = [dict(stroke_rgba=_rgba(sym.symbolLayer(k).strokeColor()),
                                  fill_rgba=_rgba(sym.symbolLayer(k).fillColor()), shape=sym.symbolLayer(k).shape())
                             for k in range(sym.symbolLayerCount())]
    fields = lay.fields()
    idx = fields.indexOf('reference_class')
    setup = lay.editorWidgetSetup(idx)
    form_cfg = lay.editFormConfig()
    info.update(fields=fields.names(), widget_type=setup.type(), widget_config=setup.config(),
                read_only={f.name(): form_cfg.readOnly(i) for i, f in enumerate(fields)},
                aliases={f.name(): lay.attributeAlias(i) for i, f in enumerate(fields)})
    wrapper = QgsGui.editorWidgetRegistry().create(lay, idx, None, None)
    combo = wrapper.widget()
    info['widget_class'] = type(combo).__name__
    info['items'] = [[combo.itemText(i), combo.itemData(i)] for i in range(combo.count())]
    edited = []
    feats = {int(f['sample_id']): f for f in lay.getFeatures(QgsFeatureRequest())}
    lay.startEditing()
    for sid, choice in args.get('edit', {}).items():
        combo.setCurrentIndex(int(choice))
        value = wrapper.value()
        lay.changeAttributeValue(feats[int(sid)].id(), idx, value)
        edited.append([int(sid), combo.currentText(), value])
    renders = {}  # the form as the reviewer sees it while editing (the drop-down enabled)
    feature = next(lay.getFeatures(QgsFeatureRequest().setFilterExpression(f'"sample_id" = {int(args["form_id"])}')))
    form = QgsAttributeForm(lay, feature)
    form.resize(460, 330)
    form.show()
    app.processEvents()
    path = os.path.join(args['png_dir'], 'review_form.png')
    form.grab().save(path, 'PNG')
    renders['form'] = dict(path=path)
    form.close()
    info['committed'] = lay.commitChanges()
    info['edited'] = edited
    project = QgsProject.instance()
    info['project_read'] = project.read(args['project'])
    players = []
    for node in project.layerTreeRoot().findLayers():
        pl = node.layer()
        rr = pl.renderer() if pl is not None else None
        entry = dict(name=node.name(), visible=node.isVisible(), valid=bool(pl and pl.isValid()),
                     type=pl.type() if pl is not None else None, renderer=rr.type() if rr is not None else None,
                     source=pl.source() if pl is not None else None)
        if pl is not None and pl.type() == 0:  # vector
            entry['widget_type'] = pl.editorWidgetSetup(pl.fields().indexOf('reference_class')).type()
        players.append(entry)
    info['project_layers'] = players
    shown = [n.layer() for n in project.layerTreeRoot().findLayers() if n.isVisible() and n.layer() is not None]
    ext = project.viewSettings().defaultViewExtent()
    size = args.get('size', [900, 620])
    renders['project'] = _render(shown, ext, project.crs(), size, os.path.join(args['png_dir'], 'review_project.png'))
    renders['project']['extent'] = [ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()]
    info['renders'] = renders
    info['log'] = log
    project.clear()
    del wrapper, form, lay, app
    return info


def zones(args):
    """The zone layer of urban indicators as a planner opens it (its default style applied by QGIS): renderer,
    ranges, field aliases, labels, the features' indicators; rendered over the class layers and the ortho, and
    the class layers' own styles."""
    from qgis.core import QgsProject
    app = _app(gui=False)
    log = _log_collector()
    ortho, ortho_info = _raster(args['ortho'], 'ortho')
    zl, info = _vector(f'{args["gpkg"]}|layername={args["zone_layer"]}', args['zone_layer'])
    r = zl.renderer()
    if r is not None and r.type() == 'graduatedSymbol':
        info['class_attribute'] = r.classAttribute()
        info['ranges'] = [dict(lower=g.lowerValue(), upper=g.upperValue(), label=g.label(),
                               rgba=_rgba(g.symbol().color()),
                               outline_rgba=_rgba(g.symbol().symbolLayer(0).strokeColor())) for g in r.ranges()]
    fields = zl.fields()
    info['fields'] = fields.names()
    info['aliases'] = {f.name(): zl.attributeAlias(i) for i, f in enumerate(fields)}
    info['display_names'] = {f.name(): f.displayName() for f in fields}
    info['labels_enabled'] = bool(zl.labelsEnabled())
    lab = zl.labeling()
    info['label_expression'] = lab.settings().fieldName if lab is not None else None
    info['wkb_type'] = int(zl.wkbType())
    info['features_attrs'] = [{name: (None if f[name] is None or str(f[name]) == 'NULL' else f[name])
                               for name in fields.names()} for f in zl.getFeatures()]
    classes, clayers = _gpkg_vectors(args['gpkg'], args['class_layers'])
    for lay in [ortho, zl, *clayers]:
        QgsProject.instance().addMapLayer(lay, False)
    extent, crs, size = ortho.extent(), ortho.crs(), (ortho.width(), ortho.height())
    png = args['png_dir']
    renders = dict(zones_over_classes=_render([zl, *clayers, ortho], extent, crs, size,
                                              os.path.join(png, 'zones_over_classes.png')),
                   zones_over_ortho=_render([zl, ortho], extent, crs, size, os.path.join(png, 'zones_over_ortho.png')))
    report = dict(zones=info, classes=classes, ortho=ortho_info, renders=renders, log=log)
    QgsProject.instance().removeAllMapLayers()
    del ortho, zl, clayers, app
    return report


COMMANDS = dict(deepness=deepness, layers=layers, gdal=gdal, review_form=review_form, zones=zones)


def main(argv):
    command, args_path = argv
    with open(args_path, encoding='utf-8') as f:
        args = json.load(f)
    result = COMMANDS[command](args)
    sys.stdout.write(MARK + json.dumps(result) + '\n')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
