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

from typing import Callable, List, Optional, Sequence

__all__ = ['infer_images', 'assign_images']


def assign_images(n_images: int, world: int) -> Optional[List[int]]:
    """Rank of each image when images are shared out whole, or None when they are cut into bands
    (fewer images than processes)."""
    if n_images >= world:
        return [i % world for i in range(n_images)]
    return None


def infer_images(model_or_config, checkpoint, images: Sequence, out_dir, rank: int = 0, world: int = 1,
                 barrier: Optional[Callable[[], None]] = None, resume: bool = False,
                 on_error: Optional[Callable] = None, **kwargs) -> list:
    """Segment ``images`` with ``world`` cooperating processes; this call is rank ``rank``'s share.

    Args:
        model_or_config, checkpoint: as :func:`vnseg.apis.infer_large_image` (built once per process).
        images: image paths (every rank gets the same list).
        out_dir: common output folder (a shared file system for multi-node jobs).
        rank, world: this process and the number of processes.
        barrier: a function that returns when every rank has called it
            (``torch.distributed.barrier``); needed when images are cut into bands.
        resume: continue interrupted runs (see :func:`vnseg.apis.infer_large_image`).
        on_error: ``f(image, exception)`` for a failed image owned by this rank (default: raise).
        **kwargs: window, device and output options of :func:`vnseg.apis.infer_large_image`.

    Returns:
        ``(image, LargeImageResult)`` for the images this rank finished (owned).
    """
    import rasterio

    from vnseg.geo.raster_io import SourceImage
    from .large_image import (_class_ids, build_tile_model, infer_large_image, open_scene, postprocess_scene,
                              segment_scene)
    from .sliding import default_overlap
    tile = kwargs.pop('tile', 512)
    overlap = kwargs.pop('overlap', None)
    overlap = default_overlap(tile) if overlap is None else int(overlap)
    device = kwargs.pop('device', None)
    cfg_options = kwargs.pop('cfg_options', None)
    tile_model = build_tile_model(model_or_config, checkpoint, device, cfg_options, tile=tile,
                                  random_weights=kwargs.pop('random_weights', False))
    results = []
    owners = assign_images(len(images), world)
    if owners is not None:
        for img, owner in zip(images, owners):
            if owner != rank:
                continue
            try:
                res = infer_large_image(tile_model, None, img, out_dir, tile=tile, overlap=overlap,
                                        resume=resume, **kwargs)
                results.append((img, res))
            except Exception as err:
                if on_error is None:
                    raise
                on_error(img, err)
        return results
    if barrier is None:
        raise ValueError('cutting images into bands needs a barrier (torch.distributed.barrier)')
    window_opts = {k: kwargs.pop(k) for k in ('batch_size', 'blend', 'tta_flip', 'match_gsd') if k in kwargs}
    progress = kwargs.pop('progress', True) and rank == 0
    polygon_classes = kwargs.pop('polygon_classes', None)
    write_polygons = kwargs.pop('write_polygons', True)
    gdal_cache_mb = kwargs.pop('gdal_cache_mb', 256)
    for i, img in enumerate(images):
        owner = i % world
        with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2 ** 20), SourceImage(img) as source:
            scene = open_scene(tile_model, None, source, out_dir, tile, overlap, **window_opts)
            keep = resume and scene.finished()
            if not keep:
                if rank == 0:
                    scene.paths.out_dir.mkdir(parents=True, exist_ok=True)
                    scene.store.start(resume=resume)
                barrier()
                first, stop = scene.grid.bands(world)[rank]
                scene.segment(first, stop, progress=progress)
                barrier()
            if rank == owner:
                timings = segment_scene(scene, resume=True, progress=False)  # assembles the stored strips
                ids = _class_ids(polygon_classes, scene.classes) if write_polygons else []
                results.append((img, postprocess_scene(scene, ids, keep_existing=keep, timings=timings,
                                                       **kwargs)))
    barrier()
    return results
