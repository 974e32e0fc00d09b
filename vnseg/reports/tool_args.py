"""Command-line arguments shared by the report tools (``tools/analysis_tools``)."""
import argparse


def runs_parser(description, what='work dirs or metrics JSON files'):
    """The parser of a report tool (:class:`vnseg.cli.ArgumentParser`, ``description`` kept as written) with
    the runs it reads (:func:`add_runs_args`); parse with :func:`parse_runs_args`."""
    from vnseg.cli import ArgumentParser
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
