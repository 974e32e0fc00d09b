"""Data preparation: annotations to masks, patches, splits, augmentation, synthetic scenes.

Modules (import them directly; this package imports nothing so ``import vnseg.data`` stays light):

* :mod:`~vnseg.data.io`: atomic writes, safe image reading (size limit, mode policy), palette PNGs.
* :mod:`~vnseg.data.label_map`: label string -> class index maps.
* :mod:`~vnseg.data.labelme`: labelme / AnyLabeling / X-AnyLabeling JSON -> mask + QA report.
* :mod:`~vnseg.data.color_mask`: colour / palette / index masks of other datasets -> class indices.
* :mod:`~vnseg.data.scenes`: finding scenes in a folder and loading them as (image, mask).
* :mod:`~vnseg.data.patches`, :mod:`~vnseg.data.split`, :mod:`~vnseg.data.augment`: patch windows,
  seeded splits, offline augmentation.
* :mod:`~vnseg.data.prepare`: ``prepare_dataset(src, out, ...)``, the orchestration behind
  ``tools/prepare_dataset.py``; :mod:`~vnseg.data.chart`: its class-distribution chart.
* :mod:`~vnseg.data.synthetic`: ``generate_scenes(out_dir, num_scenes, size, seed)``, the embedded
  drone-like scene generator.
"""
