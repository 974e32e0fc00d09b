"""Command-line arguments shared by the data tools (``tools/json_to_mask.py``, ``tools/prepare_dataset.py``)."""
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
