"""Pre-label images for AnyLabeling / labelme with a trained model (labellers correct instead of draw).

    python tools/predict_to_labelme.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out-dir DIR
        [--patch-size 2048] [--lang en|vi] [--simplify 0.75] [--min-pixels 0]
        [--tile 512] [--overlap 128] [--batch-size 4] [--device cpu|cuda] [--no-progress]

Writes into DIR:
    STEM.json                one labelme JSON per image (imagePath relative to DIR, imageData null), or
    STEM_rR_cC.json + .png   one per patch of an image larger than --patch-size (the patch beside it)
    review_queue.csv         images / patches ranked by uncertainty (lowest mean confidence first)
    predictions/             the class maps and confidence rasters the labels come from

Labels are the class names (--lang); each shape carries its mean confidence in `score` (0..1) and
`description`. tools/json_to_mask.py converts the JSONs back to masks (>= 99 % identical pixels).
"""
import sys


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description='Model predictions -> labelme / AnyLabeling JSON pre-labels')
    p.add_argument('config', help='model config (.py)')
    p.add_argument('checkpoint', help='trained checkpoint (.pth)')
    p.add_argument('images', nargs='+', help='images (GeoTIFF / JPEG / PNG, 8-bit)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--patch-size', type=int, default=2048,
                   help='images larger than this (px, either side) are cut into patches of this size')
    p.add_argument('--lang', choices=['en', 'vi'], default='en', help='label names')
    p.add_argument('--simplify', type=float, default=0.75,
                   help='outline simplification in px (0 = exact pixel outlines); default 0.75')
    p.add_argument('--min-pixels', type=int, default=0, help='skip regions smaller than this (px)')
    p.add_argument('--tile', type=int, default=512, help='inference window in px')
    p.add_argument('--overlap', type=int, default=None, help='window overlap in px (default tile/4)')
    p.add_argument('--batch-size', type=int, default=4, help='windows per forward pass')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:N (default: cuda:0 if available)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def main(argv=None):
    from vnseg.commands.cli import EXIT_USER_ERROR
    args = parse_args(argv)
    from vnseg.apis.prelabel import PrelabelOptions, predict_to_labelme
    from vnseg.commands.flags import options_from_args
    from vnseg.inference.sliding import WindowOptions
    labels = options_from_args(PrelabelOptions, args)
    windows = WindowOptions(tile=args.tile, overlap=args.overlap, batch_size=args.batch_size)
    try:
        res = predict_to_labelme(args.config, args.checkpoint, args.images, args.out_dir, labels, windows,
                                 device=args.device, progress=not args.no_progress)
    except (ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_USER_ERROR
    print(f'{len(res.jsons)} labelme JSON file(s) in {args.out_dir}')
    if res.review_queue:
        print(f'review queue: {res.review_queue} (most uncertain first)')
        for r in res.rows[:5]:
            conf = r.get('mean_confidence_pct')
            print(f"  {r['rank']:>3}. {r['json']}  mean confidence {conf if conf is not None else '?'} %")
    if res.failures:
        print(f'{len(res.failures)} image(s) failed:', file=sys.stderr)
        for image, msg in res.failures:
            print(f'error: {image}: {msg}' if image not in msg else f'error: {msg}', file=sys.stderr)
        return 1
    return 0

