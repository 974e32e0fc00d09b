"""Command-line arguments that several commands share: how annotations are read and batches run (``vnseg masks``,
``vnseg prepare``), and the runs and figure of a report command (``vnseg report``, ``curves``, ``iou-bar``)."""
import argparse

from vnseg.data.io import DEFAULT_MAX_PIXELS
from vnseg.data.labelme.schema import DEFAULT_LINE_WIDTH, DEFAULT_POINT_RADIUS


def add_annotation_args(parser):
    """How annotations are read: ``--labels``, ``--pixel-origin``, ``--line-width``, ``--point-radius``,
    ``--max-pixels``."""
    parser.add_argument('--labels', default=None,
                        help='label map: .json {label: class} or labelme labels.txt (default: vnseg class names)')
    parser.add_argument('--pixel-origin', choices=('corner', 'center'), default='corner',
                        help='JSON coordinates: pixel corners as the labelling tools (default) or pixel centres')
    parser.add_argument('--line-width', type=float, default=DEFAULT_LINE_WIDTH,
                        help=f'pixels, for line/linestrip shapes (default {DEFAULT_LINE_WIDTH:g})')
    parser.add_argument('--point-radius', type=float, default=DEFAULT_POINT_RADIUS,
                        help=f'pixels, for point shapes (default {DEFAULT_POINT_RADIUS:g})')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help=f'refuse larger images (default {DEFAULT_MAX_PIXELS:,})')


def add_batch_args(parser):
    """How a batch runs: ``--strict`` (stop at the first bad input) and ``--no-progress``."""
    parser.add_argument('--strict', action='store_true',
                        help='stop at the first bad input (default: go on, list the failures at the end)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')



def runs_parser(description, what='work dirs or metrics JSON files'):
    """The parser of a report tool (:class:`vnseg.commands.cli.ArgumentParser`, ``description`` kept as written) with
    the runs it reads (:func:`add_runs_args`); parse with :func:`parse_runs_args`."""
    from vnseg.commands.cli import ArgumentParser
    parser = ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runs_args(parser, what=what)
    return parser


def parse_runs_args(parser, argv=None):
    """``parser.parse_args(argv)``, checked by :func:`check_runs_args`."""
    args = parser.parse_args(argv)
    check_runs_args(parser, args)
    return args


def add_runs_args(parser, what='work dirs or metrics JSON files'):
    """Positional ``runs`` (one or more) and ``--names``, one display name per run."""
    parser.add_argument('runs', nargs='+', help=what)
    parser.add_argument('--names', nargs='+', help='name per run in the table or legend (default: taken from each run)')


def check_runs_args(parser, args):
    """Exit with a usage error unless ``--names`` gives one name per run."""
    if args.names and len(args.names) != len(args.runs):
        parser.error(f'--names needs one name per run: {len(args.runs)} run(s), {len(args.names)} name(s)')


def add_figure_args(parser, width, height):
    """``--out`` (the PNG), ``--title`` and the figure size: ``--width``/``--height`` in inches, ``--dpi``."""
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--width', type=float, default=width, help=f'inches (default {width})')
    parser.add_argument('--height', type=float, default=height, help=f'inches (default {height})')
    parser.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')


def figure_options(args) -> dict:
    """The options of :func:`add_figure_args` as the plot functions take them: ``title``, ``figsize``, ``dpi``."""
    return dict(title=args.title, figsize=(args.width, args.height), dpi=args.dpi)
