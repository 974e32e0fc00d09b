"""Annotation processing: labelled scenes -> class masks -> train-ready patches (no torch, no mmseg).

Layer 1: imports only the layer below, :mod:`vnseg.core` (the layers: :mod:`vnseg`).

Not to be confused with :mod:`vnseg.datasets`, the mmseg dataset classes that read this package's
output during training. Modules (import them directly; this package imports nothing, and ``import
vnseg.data`` loads neither torch nor mmengine):

* :mod:`~vnseg.data.io`: safe image reading (size limit, mode policy), palette PNGs.
* :mod:`~vnseg.data.label_map`: label string -> class index maps.
* :mod:`~vnseg.data.labelme`: labelme / AnyLabeling / X-AnyLabeling JSON -> mask + QA report
  (schema, image resolution, shape geometry, rasterisation).
* :mod:`~vnseg.data.color_mask`: colour / palette / index masks of other datasets -> class indices.
* :mod:`~vnseg.data.scenes`: finding scenes in a folder and loading them as (image, mask).
* :mod:`~vnseg.data.patches`, :mod:`~vnseg.data.split`, :mod:`~vnseg.data.augment`: patch windows,
  seeded splits, offline augmentation.
* :mod:`~vnseg.data.prepare`: ``prepare_dataset(src, out, ...)``, the orchestration behind
  ``tools/prepare_dataset.py``; :mod:`~vnseg.data.chart`: its class-distribution chart.

The synthetic scene generator of the demo and the tests is :mod:`vnseg.testing.synthetic_scenes`.
"""
