"""Command-line arguments shared by the report tools (``tools/analysis_tools``)."""


def add_runs_args(parser, what='work dirs or metrics JSON files'):
    """Positional ``runs`` (one or more) and ``--names``, one display name per run."""
    parser.add_argument('runs', nargs='+', help=what)
    parser.add_argument('--names', nargs='+', help='name per run in the table or legend (default: taken from each run)')


def check_runs_args(parser, args):
    """Exit with a usage error unless ``--names`` gives one name per run."""
    if args.names and len(args.names) != len(args.runs):
        parser.error(f'--names needs one name per run: {len(args.runs)} run(s), {len(args.names)} name(s)')


def add_figure_args(parser, width, height):
    """``--title`` and the figure size: ``--width``/``--height`` in inches, ``--dpi``."""
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--width', type=float, default=width, help=f'inches (default {width})')
    parser.add_argument('--height', type=float, default=height, help=f'inches (default {height})')
    parser.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')
