"""Finished strips on disk: what makes whole-scene inference resumable and splittable into bands.

Every finished strip of a scene (:class:`vnseg.inference.sliding.Strip`) is written at once, atomically,
to its own small file ``strip_NNNNNN.tif`` in a hidden folder next to the outputs
(``OUT/.STEM.parts/``): band 1 = class indices, band 2 = confidence (uint8 %, 255 = nodata), deflate.
A ``manifest.json`` records what the strips were computed from (image, model, window settings).
The folder is created with the first finished strip: a run that fails (or is killed) before any
strip is done -- a truncated or unreadable image, a bad model -- leaves no hidden folder behind.

* A run killed at any moment (even SIGKILL) leaves complete strip files only; ``--resume`` runs the
  missing strips (with their context, see :mod:`vnseg.inference.sliding`) and gives the same bytes.
* Several processes can fill one store, each its own row band of strips (``tools/dist_infer.sh``).
* :meth:`StripStore.assemble` stacks the strips with a GDAL VRT and lets GDAL's COG driver write
  the final class map and confidence map (512 x 512 deflate tiles, overviews) block by block, then
  renames them onto their final names; the store is removed after both are in place. Strips computed
  on another grid over the same extent (``--match-gsd``, :mod:`vnseg.apis.gsd_match`) are mapped
  onto the output grid by a second VRT (nearest neighbour) on the way.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from vnseg.core.atomic import atomic_output

__all__ = ['StripStore', 'ResumeMismatch', 'OutputGrid', 'MapLegend']

_FORMAT = 1


class ResumeMismatch(ValueError):
    """A stored interrupted run was computed with other inputs or settings than the current call."""


@dataclass(frozen=True)
class OutputGrid:
    """The grid the assembled maps are written on.

    Args:
        width, height: pixels.
        crs: a rasterio CRS, or None.
        transform: an affine transform, or None (an identity transform is a plain pixel grid).
        strips_size: ``(width, height)`` of the grid the strips were computed on when it is not this one
            (same extent, another resolution: resampled with nearest neighbour); None: this grid.
    """

    width: int
    height: int
    crs: object = None
    transform: object = None
    strips_size: Optional[Tuple[int, int]] = None


@dataclass(frozen=True)
class MapLegend:
    """What the class map's band says: class names and colours, the nodata value, more metadata tags."""

    classes: Sequence[str]
    palette: Sequence[Sequence[int]]
    nodata: int = 255
    tags: Optional[dict] = None


@dataclass(frozen=True)
class _Band:
    """One VRT band: its description, metadata tags, colour table (``{value: RGBA}`` or None), nodata value."""

    description: str
    tags: dict
    colours: Optional[dict]
    nodata: int


class StripStore:
    """The parts folder of one scene.

    Args:
        folder: ``OUT/.STEM.parts``.
        manifest: JSON-able description of the run (image identity, model identity, window settings,
            grid); a store is only resumed with an equal manifest.
    """

    def __init__(self, folder, manifest: dict):
        self.folder = Path(folder)
        self.manifest = json.loads(json.dumps(dict(manifest, format=_FORMAT)))  # JSON-normalised

    # -- state --------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / 'manifest.json'

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def part(self, index: int) -> Path:
        return self.folder / f'strip_{index:06d}.tif'

    def done(self, n_strips: int) -> set:
        """Indices of the finished strips (their files exist: they are written atomically)."""
        return {i for i in range(n_strips) if self.part(i).is_file()}

    def start(self, resume: bool) -> int:
        """Open the store for writing; returns the number of strips already finished (kept).

        ``resume=False`` discards any previous store. ``resume=True`` keeps a store whose manifest
        equals this run's and raises :class:`ResumeMismatch` (naming the differences) otherwise.
        Nothing is created here: the folder and its manifest come with the first strip (:meth:`write`).
        """
        if self.exists() and resume:
            old = json.loads(self.manifest_path.read_text())
            diff = [k for k in sorted(set(old) | set(self.manifest)) if old.get(k) != self.manifest.get(k)]
            if diff:
                shown = ', '.join(f'{k}: {old.get(k)!r} -> {self.manifest.get(k)!r}' for k in diff[:4])
                raise ResumeMismatch(f'{self.folder}: cannot resume, the interrupted run used other inputs or '
                                     f'settings ({shown}); run without --resume to start over')
            return len(self.done(int(self.manifest['strips'])))
        if self.folder.exists():
            shutil.rmtree(self.folder)
        return 0

    def _ensure(self):
        """Create the folder and its manifest (atomically) unless they exist; several processes
        filling one store may all call it (they write the same manifest)."""
        if self.manifest_path.is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=1))

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- strips -------------------------------------------------------------------------------------
    def write(self, index: int, classes: np.ndarray, confidence: np.ndarray):
        """Store strip ``index`` (``uint8 (rows, width)`` class indices and confidence), atomically."""
        import rasterio
        h, w = classes.shape
        from vnseg.geo.raster_io import output_write_errors
        with output_write_errors(self.part(index)), warnings.catch_warnings():
            self._ensure()
            warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
            with atomic_output(self.part(index)) as tmp:
                with rasterio.open(tmp, 'w', driver='GTiff', width=w, height=h, count=2, dtype='uint8',
                                   compress='deflate', zlevel=1, tiled=False,
                                   blockysize=max(1, min(h, 64))) as dst:
                    dst.write(np.stack([classes, confidence]))

    # -- assembly -----------------------------------------------------------------------------------
    def assemble(self, row_starts: Sequence[int], grid: OutputGrid, class_path, confidence_path,
                 legend: MapLegend) -> None:
        """Write the class map and the confidence map COGs on ``grid`` from the stored strips.

        ``row_starts[i]`` is strip ``i``'s first row (its last row is the next start - 1, or the
        bottom of the strips' grid). Outputs that already exist are left untouched (a resumed
        run never rewrites a finished output). Raises ValueError when a strip is missing.
        """
        out_size = (int(grid.width), int(grid.height))
        width, height = out_size if grid.strips_size is None else tuple(int(v) for v in grid.strips_size)
        resample = (width, height) != out_size
        n = len(row_starts)
        missing = sorted(set(range(n)) - self.done(n))
        if missing:
            raise ValueError(f'{self.folder}: {len(missing)} of {n} strips are missing (first: {missing[0]})')
        spans = [(row_starts[i], (row_starts[i + 1] if i + 1 < n else height) - row_starts[i]) for i in range(n)]
        strips = [(os.path.basename(self.part(i)), (0, 0, width, rows), (0, row0, width, rows))
                  for i, (row0, rows) in enumerate(spans)]
        nodata = legend.nodata
        all_tags = {'CLASSES': json.dumps(list(legend.classes)), 'NODATA_MEANING': 'no prediction (nodata input)'}
        all_tags.update(legend.tags or {})
        cmap = {i: tuple(int(v) for v in rgb) + (255,) for i, rgb in enumerate(legend.palette)}
        cmap[nodata] = (0, 0, 0, 0)
        jobs = [(Path(class_path), 1, _Band('class index', all_tags, cmap, nodata)),
                (Path(confidence_path), 2, _Band('confidence of the predicted class (%)',
                                                 dict(all_tags, UNIT='percent',
                                                      MEANING='probability of the predicted class x 100, '
                                                              '255 = no prediction'), None, nodata))]
        from vnseg.geo.raster_io import _to_cog, output_write_errors
        for path, band, meta in jobs:
            if path.is_file():
                continue
            vrt = self.folder / f'band{band}.vrt'
            import rasterio
            with output_write_errors(path), warnings.catch_warnings():
                if resample:  # strips on their own grid, then that grid onto the output's
                    grid_vrt = self.folder / f'band{band}_grid.vrt'
                    grid_vrt.write_text(_vrt_xml(OutputGrid(width, height), strips, band,
                                                 _Band(meta.description, {}, None, nodata)))
                    vrt.write_text(_vrt_xml(grid, [(grid_vrt.name, (0, 0, width, height), (0, 0) + out_size)], 1,
                                            meta))
                else:
                    vrt.write_text(_vrt_xml(grid, strips, band, meta))
                warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
                with atomic_output(path) as tmp:
                    _to_cog(vrt, tmp, 512)


def _vrt_xml(grid: OutputGrid, sources, band: int, meta: _Band) -> str:
    """A GDAL VRT on ``grid`` (its size, CRS and transform): one byte band ``meta`` made of band ``band`` of
    ``sources`` (``(file name relative to the VRT, (x, y, w, h) source rectangle, (x, y, w, h) destination
    rectangle)``; a destination of another size than its source is resampled, nearest neighbour)."""
    crs, transform = grid.crs, grid.transform
    out = [f'<VRTDataset rasterXSize="{int(grid.width)}" rasterYSize="{int(grid.height)}">']
    if crs is not None:
        out.append(f'  <SRS>{escape(crs.to_wkt())}</SRS>')
    if transform is not None and not transform.is_identity:
        out.append('  <GeoTransform>' + ', '.join(repr(float(v)) for v in transform.to_gdal()) + '</GeoTransform>')
    out.append('  <Metadata>')
    for k, v in meta.tags.items():
        out.append(f'    <MDI key={quoteattr(str(k))}>{escape(str(v))}</MDI>')
    out.append('  </Metadata>')
    out.append('  <VRTRasterBand dataType="Byte" band="1">')
    out.append(f'    <Description>{escape(meta.description)}</Description>')
    out.append(f'    <NoDataValue>{meta.nodata}</NoDataValue>')
    colours = meta.colours
    if colours:
        out.append('    <ColorInterp>Palette</ColorInterp>')
        out.append('    <ColorTable>')
        for i in range(256):
            r, g, b, a = colours.get(i, (0, 0, 0, 255))
            out.append(f'      <Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>')
        out.append('    </ColorTable>')
    else:
        out.append('    <ColorInterp>Gray</ColorInterp>')
    for name, src, dst in sources:
        out.append('    <SimpleSource resampling="nearest">')
        out.append(f'      <SourceFilename relativeToVRT="1">{escape(name)}</SourceFilename>')
        out.append(f'      <SourceBand>{band}</SourceBand>')
        out.append('      <SrcRect xOff="%d" yOff="%d" xSize="%d" ySize="%d"/>' % tuple(src))
        out.append('      <DstRect xOff="%d" yOff="%d" xSize="%d" ySize="%d"/>' % tuple(dst))
        out.append('    </SimpleSource>')
    out.append('  </VRTRasterBand>')
    out.append('</VRTDataset>')
    return '\n'.join(out) + '\n'
