"""labelme / AnyLabeling / X-AnyLabeling JSON -> class-index mask, with a label-QA report.

One job per module; the public names are re-exported here (``from vnseg.data.labelme import json_to_mask``):

* :mod:`.schema` -- the JSON schema: errors, :class:`Shape`, :class:`Annotation`, :func:`load_annotation`.
* :mod:`.images` -- the labelled image: ``imagePath`` resolution (kept inside the source folder), size
  and pixels, checked against ``imageHeight``/``imageWidth``.
* :mod:`.geometry` -- each shape type as a geometry in image pixels.
* :mod:`.rasterize` -- shapes -> mask in list order (later shapes win), the QA report, and
  :func:`json_to_mask`, the whole file -> ``(mask, report)`` step.
"""
from .geometry import shape_geometry
from .images import annotation_image_size, load_annotation_image, resolve_image_path
from .rasterize import (AnnotationReport, class_name, class_pixel_counts, json_to_mask, rasterize_annotation,
                        rasterize_shapes)
from .schema import (DEFAULT_LINE_WIDTH, DEFAULT_POINT_RADIUS, ORIENTED_BOX_TYPES, POLYGON_TYPES,
                     SUPPORTED_SHAPE_TYPES, Annotation, AnnotationError, NotAnAnnotationError, Shape,
                     UnknownLabelError, UnsafePathError, load_annotation, parse_annotation)

__all__ = [
    'Annotation', 'AnnotationError', 'AnnotationReport', 'DEFAULT_LINE_WIDTH', 'DEFAULT_POINT_RADIUS',
    'NotAnAnnotationError', 'ORIENTED_BOX_TYPES', 'POLYGON_TYPES', 'SUPPORTED_SHAPE_TYPES', 'Shape',
    'UnknownLabelError', 'UnsafePathError', 'annotation_image_size', 'class_name', 'class_pixel_counts',
    'json_to_mask', 'load_annotation', 'load_annotation_image', 'parse_annotation', 'rasterize_annotation',
    'rasterize_shapes', 'resolve_image_path', 'shape_geometry',
]
