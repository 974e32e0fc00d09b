"""Whole-scene inference shared out among the processes of a PyTorch distributed job.

``tools/dist_infer.sh CONFIG CHECKPOINT GPUS IMAGE... --out-dir DIR`` starts ``GPUS`` processes with
torchrun (nccl on GPUs, gloo on CPU-only machines; process group set up by MMEngine's ``init_dist``
with vnseg's CPU fix). The work is cut in two ways, with no scheduler of our own:

* at least as many images as processes: image ``i`` goes to rank ``i % world``, whole;
* fewer images than processes: every image is cut into ``world`` row bands of strips; rank ``r``
  computes band ``r`` into the image's strip store (:mod:`vnseg.apis.strip_store`; a band starts
  with the strips whose windows overlap it, as context), and after a barrier the image's owner
  assembles the class and confidence maps and runs the post-processing. The strips are the same
  bytes as in a single-process run, so the merged COG is identical to it.

Both are resumable (``resume=True``), by the same strip store as a single process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from vnseg.geo.vectorize import PolygonOptions
from .gis_outputs import OutputOptions
from vnseg.inference.sliding import WindowOptions

__all__ = ['infer_images', 'assign_images', 'ProcessGroup']


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the processes of a job.

    Attributes:
        rank, world: this process and the number of processes.
        barrier: a function that returns when every rank has called it (``torch.distributed.barrier``);
            needed when images are cut into bands.
    """
    rank: int = 0
    world: int = 1
    barrier: Optional[Callable[[], None]] = None


def assign_images(n_images: int, world: int) -> Optional[List[int]]:
    """Rank of each image when images are shared out whole, or None when they are cut into bands
    (fewer images than processes)."""
    if n_images >= world:
        return [i % world for i in range(n_images)]
    return None


def infer_images(model, images: Sequence, out_dir, windows: WindowOptions = WindowOptions(),
                 polygons: PolygonOptions = PolygonOptions(), outputs: OutputOptions = OutputOptions(), *,
                 group: ProcessGroup = ProcessGroup(), resume: bool = False, progress: bool = True,
                 on_error: Optional[Callable] = None) -> list:
    """Segment ``images`` with ``group.world`` cooperating processes; this call is rank ``group.rank``'s share.

    Args:
        model: a :class:`~vnseg.apis.scene_model.SceneModel` (or a tile model), built once per process
            (:func:`~vnseg.apis.scene_model.build_scene_model`).
        images: image paths (every rank gets the same list).
        out_dir: common output folder (a shared file system for multi-node jobs).
        windows, polygons, outputs: as :func:`vnseg.apis.infer_large_image`.
        group: this process among the others (default: alone).
        resume: continue interrupted runs (see :func:`vnseg.apis.infer_large_image`).
        progress: tqdm progress bar (rank 0's, when images are cut into bands).
        on_error: ``f(image, exception)`` for a failed image owned by this rank (default: raise).

    Returns:
        ``(image, LargeImageResult)`` for the images this rank finished (owned).
    """
    from .large_image import infer_large_image
    from .scene_model import build_scene_model
    model = build_scene_model(model)
    owners = assign_images(len(images), group.world)
    if owners is None:
        return _infer_bands(model, images, out_dir, windows, polygons, outputs, group, resume, progress)
    results = []
    for img, owner in zip(images, owners):
        if owner != group.rank:
            continue
        try:
            results.append((img, infer_large_image(model, None, img, out_dir, windows, polygons, outputs,
                                                   resume=resume, progress=progress)))
        except Exception as err:
            if on_error is None:
                raise
            on_error(img, err)
    return results


def _infer_bands(model, images, out_dir, windows, polygons, outputs, group: ProcessGroup, resume: bool,
                 progress: bool) -> list:
    """Every image cut into ``group.world`` row bands of strips, one per rank; image ``i``'s owner
    (rank ``i % world``) assembles its rasters and post-processes it."""
    from vnseg.geo.raster_io import SourceImage
    from .postprocess import postprocess_scene
    from .scene import Scene, gdal_cache, segment_scene
    if group.barrier is None:
        raise ValueError('cutting images into bands needs a barrier (torch.distributed.barrier)')
    rank, world, barrier = group.rank, group.world, group.barrier
    results = []
    for i, img in enumerate(images):
        owner = i % world
        with gdal_cache(), SourceImage(img) as source:
            scene = Scene(model, source, out_dir, windows)
            keep = resume and scene.finished()
            if outputs.sample:  # every rank sees the same file: all of them stop, none waits at a barrier
                from .map_sample import check_sample_target
                check_sample_target(scene.paths.sample, keep)
            if not keep:
                if rank == 0:
                    scene.paths.out_dir.mkdir(parents=True, exist_ok=True)
                    scene.store.start(resume=resume)
                barrier()
                first, stop = scene.grid.bands(world)[rank]
                scene.segment(first, stop, progress=progress and rank == 0)
                barrier()
            if rank == owner:
                timings = segment_scene(scene, resume=True, progress=False)  # assembles the stored strips
                results.append((img, postprocess_scene(scene, polygons, outputs, keep_existing=keep,
                                                       timings=timings)))
    barrier()
    return results
