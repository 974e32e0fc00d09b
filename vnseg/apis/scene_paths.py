"""The file names of one image's whole-scene outputs in an output folder.

``STEM`` is the image's file name without suffix, made safe for file names
(:func:`vnseg.geo.vectorize.safe_name`); the polygon files (``STEM.gpkg``, ``STEM_<class>.geojson``)
are named by :class:`vnseg.geo.vectorize.PolygonFiles`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vnseg.geo.vectorize import safe_name

__all__ = ['ScenePaths']


@dataclass(frozen=True)
class ScenePaths:
    """Output paths of one image in ``out_dir`` (``STEM`` = the image's safe file stem)."""
    out_dir: Path
    stem: str

    def __post_init__(self):
        object.__setattr__(self, 'out_dir', Path(self.out_dir))

    @classmethod
    def of(cls, out_dir, src) -> 'ScenePaths':
        return cls(Path(out_dir), safe_name(Path(src).stem))

    def _file(self, suffix: str) -> Path:
        return self.out_dir / f'{self.stem}{suffix}'

    @property
    def class_map(self) -> Path:
        return self._file('_classes.tif')

    @property
    def confidence(self) -> Path:
        return self._file('_confidence.tif')

    @property
    def preview(self) -> Path:
        return self._file('_preview.png')

    @property
    def areas_csv(self) -> Path:
        return self._file('_areas.csv')

    @property
    def areas_json(self) -> Path:
        return self._file('_areas.json')

    @property
    def class_style(self) -> Path:
        """QGIS style of the class map."""
        return self._file('_classes.qml')

    @property
    def confidence_style(self) -> Path:
        """QGIS style of the confidence map."""
        return self._file('_confidence.qml')

    @property
    def zones_csv(self) -> Path:
        return self._file('_zones.csv')

    @property
    def indicators_csv(self) -> Path:
        """Urban indicators of the map and of each zone."""
        return self._file('_indicators.csv')

    @property
    def sample(self) -> Path:
        """The review sample's GeoPackage (``vnseg map --sample``; its QGIS project ``.qgs`` beside it)."""
        return self._file('_sample.gpkg')

    @property
    def report(self) -> Path:
        return self._file('_report.html')

    @property
    def parts(self) -> Path:
        """Hidden folder of the finished strips while a run is in progress or was interrupted."""
        return self.out_dir / f'.{self.stem}.parts'
