"""Convert labelme / AnyLabeling / X-AnyLabeling JSON files to palette PNG class masks + a QA report.

    python tools/json_to_mask.py INPUT [INPUT ...] -o OUT_DIR [--labels MAP] [--unknown error|ignore]

INPUT: JSON files or folders (searched recursively). Writes ``OUT_DIR/<stem>.png`` (class indices,
palette for viewers) and ``OUT_DIR/qa_report.json`` (per file: unknown labels, degenerate shapes,
out-of-image vertices, overlaps, class pixel counts). Bad files are listed at the end and make the
exit status non-zero; ``--strict`` stops at the first. See ``vnseg/data/labelme/`` for the schema
and the pixel convention.
"""
import argparse
import sys
from pathlib import Path

from vnseg.commands.shared_args import add_annotation_args, add_batch_args
from vnseg.core.atomic import write_json
from vnseg.core.errors import DataError
from vnseg.data.io import write_mask_png
from vnseg.data.label_map import LabelMap
from vnseg.data.labelme import NotAnAnnotationError, UnsafePathError, json_to_mask


def build_parser():
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('inputs', nargs='+', help='JSON files or folders')
    p.add_argument('-o', '--out-dir', required=True, help='output folder for <stem>.png and qa_report.json')
    p.add_argument('--unknown', choices=('error', 'ignore'), default='error',
                   help='unknown labels: fail the file (default) or paint 255 and report')
    p.add_argument('--root', default=None,
                   help='folder imagePath must stay inside (default: each input folder / the file\'s folder)')
    p.add_argument('--no-image', action='store_true',
                   help='when the image is missing, use imageHeight/imageWidth instead of failing')
    add_annotation_args(p)
    add_batch_args(p)
    return p


def _collect(inputs, root_arg):
    """[(json_path, root)] in a stable order."""
    items = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            root = Path(root_arg) if root_arg else path
            items += [(p, root) for p in sorted(path.rglob('*.json'))]
        else:
            items.append((path, Path(root_arg) if root_arg else path.parent))
    return items


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tqdm import tqdm
    label_map = LabelMap.from_spec(args.labels)  # a bad map: one line through vnseg.commands.cli.run_tool
    out_dir = Path(args.out_dir)
    reports, failures, skipped, used, unsafe = [], [], [], {}, False
    for path, root in tqdm(_collect(args.inputs, args.root), desc='json -> mask', unit='file',
                           disable=args.no_progress):
        try:
            mask, report = json_to_mask(path, label_map, root=root, require_image=not args.no_image,
                                        max_pixels=args.max_pixels, on_unknown=args.unknown,
                                        line_width=args.line_width, point_radius=args.point_radius,
                                        pixel_origin=args.pixel_origin)
        except NotAnAnnotationError as e:
            skipped.append({'file': str(path), 'reason': e.problem})
            continue
        except DataError as e:
            unsafe = unsafe or isinstance(e, UnsafePathError)
            if args.strict:
                print(f'error: {e}', file=sys.stderr)
                return 1
            failures.append({'file': str(path), 'error': str(e)})
            continue
        stem = path.stem
        if stem in used:  # same stem in two folders: keep both
            used[stem] += 1
            stem = f'{stem}-{used[stem]}'
        else:
            used[stem] = 1
        write_mask_png(out_dir / f'{stem}.png', mask)
        entry = report.to_dict()
        entry['mask'] = f'{stem}.png'
        reports.append(entry)
    write_json(out_dir / 'qa_report.json', {'files': reports, 'skipped': skipped, 'failures': failures,
                                            'label_map': label_map.as_dict()})
    n_unknown = sum(len(r['unknown_labels']) for r in reports)
    n_degenerate = sum(len(r['degenerate_shapes']) for r in reports)
    print(f'{len(reports)} mask(s) written to {out_dir}; {len(skipped)} non-annotation JSON skipped; '
          f'{n_unknown} unknown-label shape(s), {n_degenerate} degenerate shape(s); QA: {out_dir / "qa_report.json"}')
    if failures:
        print(f'{len(failures)} file(s) failed:', file=sys.stderr)
        for f in failures:
            print(f'  {f["error"]}', file=sys.stderr)
        if unsafe:
            print('hint: an imagePath leaves the input folder (e.g. "../images/x.jpg"); pass --root with a '
                  'folder that holds both the JSON and the images', file=sys.stderr)
        return 1
    return 0

