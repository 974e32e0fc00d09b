#!/usr/bin/env python
"""Write synthetic drone-like scenes (PNG + AnyLabeling JSON polygons), deterministic by seed.

    python demo/generate_scenes.py --out-dir OUT_DIR [--num-scenes 8] [--size 768 | --size H W] [--seed 0]

See :mod:`vnseg.testing.synthetic_scenes` for what the scenes contain.
"""
import argparse
import sys

from vnseg.testing.synthetic_scenes import generate_scenes


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-o', '--out-dir', required=True, help='output folder for <prefix>_NNN.png/.json')
    p.add_argument('--num-scenes', type=int, default=8, help='scenes to write (default 8)')
    p.add_argument('--size', type=int, nargs='+', default=[768], help='side, or H W, in pixels (>= 64)')
    p.add_argument('--seed', type=int, default=0, help='scene i uses the generator seeded [seed, i] (default 0)')
    p.add_argument('--prefix', default='scene', help='file name prefix (default scene)')
    p.add_argument('--write-masks', action='store_true', help='also write <stem>_mask.png ground truth')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if len(args.size) not in (1, 2):
        print('error: --size takes 1 or 2 values', file=sys.stderr)
        return 2
    size = args.size[0] if len(args.size) == 1 else tuple(args.size)
    paths = generate_scenes(args.out_dir, args.num_scenes, size, args.seed, prefix=args.prefix,
                            write_masks=args.write_masks, progress=not args.no_progress)
    print(f'{len(paths)} scene(s) written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
