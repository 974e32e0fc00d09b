"""The review sample that ``vnseg map --sample N`` draws on a scene's finished class map.

The same design as ``vnseg sample`` (:func:`vnseg.geo.sampling.draw_sample`: strata = map classes, or
zone x class with the run's zones; 50 points per stratum first, the rest in proportion to area; seed
:data:`SEED`), written as ``STEM_sample.gpkg`` with the QGIS project ``STEM_sample.qgs`` that opens
the points over the mapped image. Other sizes, seeds or chips: ``vnseg sample`` on the class map.

A sample is where a reviewer's labels are kept, so a sample that holds any is never replaced:
:func:`check_sample_target` refuses the run before inference; a resumed run whose rasters were
finished keeps the sample it finds (the same map, options and seed would draw the same points).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ['SEED', 'MapSample', 'reviewed_labels', 'check_sample_target', 'draw_map_sample']

#: Seed of the sample drawn by ``vnseg map --sample`` (``vnseg sample``'s default).
SEED = 0


@dataclass
class MapSample:
    """The sample of a mapped scene.

    Attributes:
        gpkg: ``STEM_sample.gpkg``, the review form (point layer ``sample_points``).
        project: ``STEM_sample.qgs`` (the points over the image), None when not written.
        points: number of points.
        kept: True when a resumed run kept the sample it found instead of drawing it.
    """

    gpkg: Path
    project: Optional[Path]
    points: int
    kept: bool = False


def reviewed_labels(gpkg) -> int:
    """Points of a sample file (GeoPackage or CSV) with a reference class filled in.

    Raises:
        vnseg.geo.accuracy.AccuracyError: an unreadable file, or one without a sample's fields.
    """
    from vnseg.geo.accuracy import read_sample
    return sum(v is not None for v in read_sample(gpkg).columns['reference_class'])


def check_sample_target(gpkg: Path, keep: bool):
    """Refuse to replace ``gpkg`` when it holds reviewed labels (``keep``: it will be kept, nothing to check).

    Raises:
        vnseg.geo.sampling.SampleError: the file holds reviewed labels (or cannot be read to tell).
    """
    from vnseg.geo.sampling import SampleError
    gpkg = Path(gpkg)
    if keep or not gpkg.is_file():
        return
    labelled = reviewed_labels(gpkg)
    if labelled:
        raise SampleError(f'{gpkg}: holds {labelled} reviewed label(s) that a new sample would replace; move it '
                          'away first (or map without --sample, or continue the finished run with --resume, which '
                          'keeps it)')


def _kept(gpkg: Path) -> MapSample:
    from vnseg.geo.accuracy import read_sample
    project = gpkg.with_suffix('.qgs')
    return MapSample(gpkg, project if project.is_file() else None, len(read_sample(gpkg)), kept=True)


def draw_map_sample(class_map: Path, gpkg: Path, image: Path, n: int, outputs, keep_existing: bool) -> MapSample:
    """Draw ``n`` points on ``class_map`` into ``gpkg`` (and ``gpkg``'s ``.qgs`` over ``image``).

    Args:
        class_map: the finished ``STEM_classes.tif``.
        gpkg: ``STEM_sample.gpkg``.
        image: the mapped image (shown under the points in the QGIS project).
        n: points in total.
        outputs: the run's :class:`vnseg.apis.gis_outputs.OutputOptions` (``lang``; ``zones`` loaded on the
            grid and ``zone_field``: strata zone x class).
        keep_existing: a resumed, finished run: an existing sample is kept as it is.

    Raises:
        vnseg.geo.sampling.SampleError: ``n`` too small for the strata's minimums (the map is written: the
            message says how to draw the sample from it), or ``gpkg`` holds reviewed labels.
    """
    from vnseg.core.errors import OptionError
    from vnseg.geo.sampling import SampleError, SampleOptions, draw_sample
    gpkg = Path(gpkg)
    if keep_existing and gpkg.is_file():
        return _kept(gpkg)
    check_sample_target(gpkg, keep=False)
    zones = outputs.zones
    options = SampleOptions(n=n, seed=SEED, zones=None if zones is None else str(zones.path),
                            zone_field=outputs.zone_field if zones is not None else None, lang=outputs.lang,
                            image=str(image))
    try:
        res = draw_sample(class_map, gpkg, options)
    except OptionError as err:  # the sizes: named by vnseg map's flag, with the way on from the written map
        problem = err.problem.split(';')[0]
        raise SampleError(f'{class_map}: --sample {n}: {problem}; the map is written: draw the sample from it with '
                          f'vnseg sample {class_map} {gpkg} --n N (and --min-per-stratum)') from err
    return MapSample(res.gpkg, res.project, len(res.points))
