"""Cache a teacher's soft labels of a dataset's train scenes and of unlabelled images (distillation).

    vnseg teacher-labels CONFIG CKPT [CONFIG CKPT ...] --data DIR [--unlabelled DIR ...] --out-dir DIR
        [--tile 512] [--overlap 128] [--batch-size 4] [--blend gaussian|mean] [--no-tta-flip]
        [--device cpu|cuda] [--no-progress]

Runs the teacher (several CONFIG CKPT pairs: an ensemble, their probabilities averaged) over every
train scene of the prepared dataset DIR (``DIR/scenes/img``, ``DIR/scenes/train.txt``) and every
image of each ``--unlabelled`` folder, with vnseg's whole-scene inference and flip TTA (off with
``--no-tta-flip``), and stores each image's class probabilities, 8 bits per class, as a tiled
GeoTIFF in OUT (:mod:`vnseg.apis.teacher_labels`). ``OUT/manifest.json`` names the teachers (config
and checkpoint sha256), the settings and the data fingerprint. The same command again skips what is
done (after a kill it goes on where it stopped); a cache of another teacher, other settings or
other data is refused with one error line. An unreadable image is reported and the others go on
(exit status 1 at the end). Train with the cache: ``configs/segformer_b0_kd_cached_recipe_vn.py``.
"""
import sys


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser, check_output_dir, positive_int, non_negative_int
    p = ArgumentParser(description="Cache a teacher's soft labels (class probabilities) of a prepared "
                                   "dataset's train scenes and of unlabelled images, for distillation")
    p.add_argument('teachers', nargs='+', metavar='CONFIG CKPT',
                   help='teacher config and checkpoint; several pairs = an ensemble (probabilities averaged)')
    p.add_argument('--data', help='prepared dataset (vnseg prepare): its train scenes are cached')
    p.add_argument('--unlabelled', action='append', default=[], metavar='DIR',
                   help='a folder of unlabelled images or mosaics (repeatable)')
    p.add_argument('--out-dir', required=True, help='the cache folder')
    p.add_argument('--tile', type=positive_int, default=512, help='window side in pixels (default 512)')
    p.add_argument('--overlap', type=non_negative_int, default=128, help='window overlap in pixels (default 128)')
    p.add_argument('--batch-size', type=positive_int, default=4, help='windows per forward (default 4)')
    p.add_argument('--blend', choices=['gaussian', 'mean'], default='gaussian', help='window blending')
    p.add_argument('--no-tta-flip', action='store_true', help='no horizontal-flip test-time augmentation')
    p.add_argument('--device', help='torch device (default: cuda when available, else cpu)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    if len(args.teachers) % 2:
        p.error(f'teachers: expected CONFIG CKPT pairs, got {len(args.teachers)} paths')
    if args.data is None and not args.unlabelled:
        p.error('--data: give a prepared dataset (--data) and/or --unlabelled folders')
    if args.overlap >= args.tile:
        p.error(f'--overlap: {args.overlap} px must be smaller than the tile ({args.tile} px)')
    from vnseg.core.errors import OptionError
    try:
        check_output_dir(args.out_dir)
    except OptionError as err:
        p.error(str(err))
    args.teachers = list(zip(args.teachers[::2], args.teachers[1::2]))
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.apis.teacher_labels import cache_teacher_labels
    from vnseg.commands.cli import EXIT_USER_ERROR, describe_user_error
    from vnseg.inference.sliding import WindowOptions

    def report(image, err):
        print(f'error: {describe_user_error(err) or err}', file=sys.stderr)

    windows = WindowOptions(tile=args.tile, overlap=args.overlap, batch_size=args.batch_size, blend=args.blend,
                            tta_flip=not args.no_tta_flip)
    result = cache_teacher_labels(args.teachers, args.data, args.unlabelled, args.out_dir, windows,
                                  device=args.device, progress=not args.no_progress, on_error=report)
    total = len(result.cache.manifest['images'])
    print(f'{args.out_dir}: {len(result.written)} images written, {len(result.skipped)} already done, '
          f'{len(result.failed)} failed, of {total}')
    if result.failed:
        print(f'{len(result.failed)} of {total} images failed: ' + ', '.join(k for k, _ in result.failed),
              file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
