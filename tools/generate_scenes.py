#!/usr/bin/env python
"""Write synthetic drone-like scenes (PNG + AnyLabeling JSON polygons), deterministic by seed.

    python tools/generate_scenes.py OUT_DIR [--num-scenes 8] [--size 768 | --size H W] [--seed 0]

See ``vnseg/data/synthetic.py`` for what the scenes contain.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vnseg.data.synthetic import generate_scenes


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out_dir')
    p.add_argument('--num-scenes', type=int, default=8)
    p.add_argument('--size', type=int, nargs='+', default=[768], help='side, or H W, in pixels (>= 64)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--prefix', default='scene')
    p.add_argument('--write-masks', action='store_true', help='also write <stem>_mask.png ground truth')
    p.add_argument('--no-progress', action='store_true')
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
