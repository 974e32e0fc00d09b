"""Layer 1: where a teacher's soft labels are stored for distillation; imports only vnseg.core.

* :mod:`~vnseg.distill.teacher_cache`: the cache folder, its manifest and the checks that it fits a config.
* :mod:`~vnseg.distill.soft_label_raster`: one scene's soft labels as a tiled uint8 GeoTIFF.

The teacher labels are written by :mod:`vnseg.apis.teacher_labels` (``vnseg teacher-labels``); training
reads them through :mod:`vnseg.datasets` (``LoadTeacherProbs``, ``TeacherCacheImages``) and learns from
them with :class:`vnseg.models.segmentors.CachedDistillSegmentor`.
"""
