"""Do the 95 % intervals of ``vnseg accuracy`` cover the true class areas? A simulation on real labels.

    python benchmarks/area_coverage.py [--test-tiles 5 6] [--train-tiles 1 2 3 4] [--draws 1000] [--n 500]
        [--min-per-stratum 50] [--class-maps DIR | --model CONFIG CHECKPOINT [--map-dir DIR]] [--seed 0]
        [--chart PNG]

The population is the labelled Dubai test tiles (``../shared/data/dubai_aerial``, tiles 5 and 6: 9 images
of 1126 x 1058 and 9 of 859 x 838 pixels, stacked into one scene of 17.2 million labelled pixels; pixels
without a label are nodata), whose true class areas come from their masks (``masks_5class``). The class
map is, by default, **a quickly trained tiny model**: a per-pixel Gaussian classifier (quadratic
discriminant on colour and local texture: 9 features) fitted on a subsample of the train tiles' pixels
(tiles 1-4), applied to the test tiles and smoothed by a 7 x 7 majority filter -- a weak model, whose
errors are real classification errors on unseen tiles (the statistics hold for any map). ``--model CONFIG
CHECKPOINT`` maps the test images with a trained model instead, as ``vnseg map`` does (whole-scene
inference, 512-pixel windows overlapping by 128, the checkpoint's weights; the maps are kept in ``--map-dir``,
default ``work_dirs/area_coverage/<checkpoint's folder>``, and reused). ``--class-maps DIR`` takes maps made
elsewhere: ``DIR/tile<N>/<image stem>*.png|tif`` (as ``--model`` writes them) or ``DIR/Tile_<N>__<image
stem>*.png|tif`` (the names of ``vnseg prepare``'s scenes); the test tiles' images share their stems.

Each draw is what a planner does: ``vnseg sample``'s stratified random sample of ``--n`` points on the
class map (strata = map classes, ``--min-per-stratum`` then proportional allocation; the library's own
drawing), each point labelled from the true mask (a perfect reviewer), and ``vnseg accuracy``'s
estimators. Over ``--draws`` independent draws it prints per class: the true and mapped area (pixels),
the share of draws whose 95 % interval covers the true area (should be 92-98 % for classes with enough
pixels: >= 1 % of the scene) with its Monte Carlo standard error (from the number of draws), the mean interval
half-width, the mean standard error over the spread of the estimates from draw to draw (SE/SD: 1 when the
standard errors are right), and the mean |estimate - truth| against |mapped - truth|; then the same coverage for
the overall, user's and producer's accuracies (their true values from the full error matrix), and how often each
class's interval lies below and above the truth (unequal when the estimates are skewed). Several ``--n`` and
``--min-per-stratum`` values give one run each, on the same map. Last line of each run: ``RESULT_COVERAGE
min=<lowest class coverage among classes with enough pixels> max=<highest> est_vs_map=<mean |est - true| /
|mapped - true| summed over those classes> draws= n= min_per_stratum=``.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DUBAI = REPO.parent / 'shared' / 'data' / 'dubai_aerial'
ENOUGH_SHARE = 0.01


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(DUBAI), help='the dubai_aerial folder')
    p.add_argument('--test-tiles', nargs='+', type=int, default=[5, 6])
    p.add_argument('--train-tiles', nargs='+', type=int, default=[1, 2, 3, 4])
    p.add_argument('--draws', type=int, default=1000, help='independent samples (at least 200)')
    p.add_argument('--n', type=int, nargs='+', default=[500], help='points per sample (several: one run each)')
    p.add_argument('--min-per-stratum', type=int, nargs='+', default=[50],
                   help='points each stratum gets first (several: one run each)')
    p.add_argument('--class-maps', default=None, help="a model's class maps of the test images (instead of the "
                                                      'pixel classifier)')
    p.add_argument('--model', nargs=2, default=None, metavar=('CONFIG', 'CHECKPOINT'),
                   help='map the test images with this trained model (vnseg map) instead of the pixel classifier')
    p.add_argument('--map-dir', default=None, help="where --model's class maps are kept and reused "
                                                   "(default work_dirs/area_coverage/<checkpoint's folder>)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--chart', default=None, help="write the first draw's accuracy chart (as vnseg accuracy draws "
                                                 'it) to this PNG')
    return p.parse_args(argv)


def tile_parts(data: Path, tile: int):
    """``[(image path, mask path)]`` of a tile, by part number."""
    images = sorted((data / 'original' / f'Tile {tile}' / 'images').glob('*.jpg'))
    pairs = [(img, data / 'masks_5class' / f'tile{tile}_{img.stem}.png') for img in images]
    missing = [str(m) for _, m in pairs if not m.is_file()]
    if not pairs or missing:
        raise SystemExit(f'error: {data}: tile {tile} has no images with masks in masks_5class'
                         + (f' ({missing[0]})' if missing else ''))
    return pairs


def read_rgb(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert('RGB'))


def read_mask(path):
    from PIL import Image
    return np.asarray(Image.open(path))


# ------------------------------------------------------------------------------------------------
# the tiny model: a Gaussian pixel classifier on colour and texture
# ------------------------------------------------------------------------------------------------
def features(rgb: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 9)``: RGB, RGB mean 11 x 11, grey std 5 x 5 and 15 x 15, excess green."""
    from scipy.ndimage import uniform_filter
    x = rgb.astype(np.float32) / 255.0
    grey = x.mean(axis=2)
    out = [x, np.stack([uniform_filter(x[..., k], 11) for k in range(3)], -1)]
    for size in (5, 15):
        m = uniform_filter(grey, size)
        out.append(np.sqrt(np.maximum(uniform_filter(grey * grey, size) - m * m, 0))[..., None])
    out.append((2 * x[..., 1] - x[..., 0] - x[..., 2])[..., None])
    return np.concatenate(out, axis=-1)


class GaussianPixelClassifier:
    """Quadratic discriminant analysis: a Gaussian per class (mean, regularised covariance) and its prior."""

    def fit(self, feats: np.ndarray, labels: np.ndarray, n_classes: int):
        self.params = []
        for c in range(n_classes):
            f = feats[labels == c].astype(np.float64)
            cov = np.cov(f, rowvar=False) + 1e-4 * np.eye(f.shape[1])
            inv = np.linalg.inv(cov)
            _, logdet = np.linalg.slogdet(cov)
            self.params.append((f.mean(axis=0), inv, logdet, np.log(len(f) / len(labels))))
        return self

    def predict(self, feats: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
        flat = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
        out = np.empty(len(flat), np.uint8)
        for s in range(0, len(flat), chunk):
            f = flat[s:s + chunk]
            scores = []
            for mean, inv, logdet, prior in self.params:
                d = f - mean
                scores.append(prior - 0.5 * logdet - 0.5 * np.einsum('ij,jk,ik->i', d, inv, d))
            out[s:s + chunk] = np.argmax(scores, axis=0)
        return out.reshape(feats.shape[:2])


def majority(classes: np.ndarray, n_classes: int, size: int = 7) -> np.ndarray:
    from scipy.ndimage import uniform_filter
    votes = np.stack([uniform_filter((classes == c).astype(np.float32), size) for c in range(n_classes)])
    return np.argmax(votes, axis=0).astype(np.uint8)


def train_classifier(data: Path, tiles, n_classes: int, seed: int, per_image: int = 6000):
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for tile in tiles:
        for img, mask in tile_parts(data, tile):
            f, m = features(read_rgb(img)), read_mask(mask)
            ok = np.flatnonzero(m.ravel() < n_classes)
            pick = rng.choice(ok, size=min(per_image, len(ok)), replace=False)
            feats.append(f.reshape(-1, f.shape[-1])[pick])
            labels.append(m.ravel()[pick])
    return GaussianPixelClassifier().fit(np.concatenate(feats), np.concatenate(labels), n_classes)


def model_map(tile: int, path: Path, class_maps: Path):
    """A class map of image ``path`` of ``tile``: ``tile<N>/<stem>*`` or ``Tile_<N>__<stem>*``, PNG or GeoTIFF."""
    hits = sorted(p for pattern in (f'tile{tile}/{path.stem}*', f'Tile_{tile}__{path.stem}*')
                  for p in class_maps.glob(pattern)
                  if p.suffix.lower() in ('.png', '.tif', '.tiff') and not p.stem.endswith('_confidence'))
    if not hits:
        raise SystemExit(f'error: {class_maps}: no class map tile{tile}/{path.stem}*.png|tif or '
                         f'Tile_{tile}__{path.stem}*.png|tif')
    if hits[0].suffix.lower() == '.png':
        return read_mask(hits[0])
    import rasterio
    with rasterio.open(hits[0]) as ds:
        return ds.read(1)


def map_with_model(args) -> Path:
    """Map every test image with ``args.model`` as ``vnseg map`` does, into ``DIR/tile<N>/`` (kept: a map that
    exists is reused); returns ``DIR``."""
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    from vnseg.apis.scene_model import build_scene_model
    config, checkpoint = args.model
    out = Path(args.map_dir or REPO / 'work_dirs' / 'area_coverage' / Path(checkpoint).resolve().parent.name)
    todo = [(tile, img) for tile in args.test_tiles for img, _ in tile_parts(Path(args.data), tile)
            if not (out / f'tile{tile}' / f'{img.stem}_classes.tif').is_file()]
    if todo:
        model = build_scene_model(config, checkpoint, 'cpu', tile=512)
        for tile, img in todo:
            infer_large_image(model, None, img, out / f'tile{tile}', WindowOptions(tile=512, overlap=128),
                              outputs=OutputOptions(polygons=False, preview=False, report=False), device='cpu',
                              resume=True, progress=False)
    print(f'class maps of {config} + {checkpoint}: {out} ({len(todo)} mapped now)')
    return out


def scene(args, n_classes: int):
    """``(truth, mapped)``: the test tiles' parts stacked (padded with nodata), nodata where unlabelled."""
    data = Path(args.data)
    clf = None
    if args.model is not None:
        args.class_maps = str(map_with_model(args))
    if args.class_maps is None:
        clf = train_classifier(data, args.train_tiles, n_classes, args.seed)
        print(f'pixel classifier fitted on tiles {args.train_tiles}')
    truths, maps = [], []
    for tile in args.test_tiles:
        for img, mask in tile_parts(data, tile):
            truth = read_mask(mask).astype(np.uint8)
            if clf is not None:
                mapped = majority(clf.predict(features(read_rgb(img))), n_classes)
            else:
                mapped = model_map(tile, img, Path(args.class_maps)).astype(np.uint8)
            if mapped.shape != truth.shape:
                raise SystemExit(f'error: {img}: class map {mapped.shape} and mask {truth.shape} differ')
            bad = truth >= n_classes
            truth[bad] = 255
            mapped = np.where(bad | (mapped >= n_classes), 255, mapped).astype(np.uint8)
            truths.append(truth)
            maps.append(mapped)
    width = max(t.shape[1] for t in truths)

    def stack(parts):
        return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=255) for p in parts])
    return stack(truths), stack(maps)


# ------------------------------------------------------------------------------------------------
# the simulation
# ------------------------------------------------------------------------------------------------
def simulate(truth: np.ndarray, mapped: np.ndarray, n: int, min_per_stratum: int, args) -> None:
    """``args.draws`` samples of ``n`` points (``min_per_stratum`` first), labelled from ``truth``, estimated;
    prints the coverage table and the ``RESULT_COVERAGE`` line."""
    from vnseg.core.classes import CLASSES
    from vnseg.geo.area_estimation import ReviewedSample, Strata, estimate_accuracy
    from vnseg.geo.sampling import ClassMap, allocate, count_strata, draw_points
    K = len(CLASSES)
    valid = mapped < K
    conf = np.bincount(mapped[valid].astype(np.int64) * K + truth[valid], minlength=K * K).reshape(K, K)
    true_px = conf.sum(axis=0).astype(float)
    map_px = conf.sum(axis=1).astype(float)
    true_oa = np.trace(conf) / conf.sum()
    with np.errstate(invalid='ignore', divide='ignore'):
        true_ua, true_pa = np.diag(conf) / map_px, np.diag(conf) / true_px
    cm = ClassMap(mapped)
    table = count_strata(cm, block_rows=512)
    alloc = allocate(table.pixels, table.area, n, min_per_stratum)
    strata = Strata(table.labels(), table.area, table.pixels, np.arange(K))
    print(f'\n{args.draws} draws of {int(alloc.sum())} points, --min-per-stratum {min_per_stratum} (per stratum '
          f'{alloc.tolist()})')
    est = np.full((args.draws, K), np.nan)
    half = np.full((args.draws, K), np.nan)
    acc_cover = dict(overall=[], users=[[] for _ in range(K)], producers=[[] for _ in range(K)])
    for d in range(args.draws):
        pts = draw_points(cm, table, alloc, seed=args.seed * 100003 + d)
        e = estimate_accuracy(ReviewedSample(pts.stratum, mapped[pts.row, pts.col], truth[pts.row, pts.col]),
                              strata, CLASSES)
        for c in range(K):
            if e.area[c].value is not None and e.area[c].ci95 is not None:
                est[d, c], half[d, c] = e.area[c].value, e.area[c].ci95
            for key, truth_v in (('users', true_ua[c]), ('producers', true_pa[c])):
                x = getattr(e, key)[c]
                if x.value is not None and x.ci95 is not None and np.isfinite(truth_v):
                    acc_cover[key][c].append(abs(x.value - truth_v) <= x.ci95)
        if e.overall.ci95 is not None:
            acc_cover['overall'].append(abs(e.overall.value - true_oa) <= e.overall.ci95)
        if d == 0 and args.chart:
            from vnseg.geo.accuracy import accuracy_document
            from vnseg.geo.accuracy_report import area_chart_png
            doc = accuracy_document(table, pts.stratum, mapped[pts.row, pts.col], truth[pts.row, pts.col])
            Path(args.chart).write_bytes(area_chart_png(doc))
    covered = np.abs(est - true_px) <= half
    cover = np.nanmean(covered, axis=0)
    # the Monte Carlo standard error of a coverage from this many draws: a coverage within ~2 of them of 95 %
    # is what a right interval gives
    mc_se = np.sqrt(cover * (1 - cover) / np.sum(np.isfinite(est), axis=0))
    err_est = np.nanmean(np.abs(est - true_px), axis=0)
    err_map = np.abs(map_px - true_px)
    enough = true_px / true_px.sum() >= ENOUGH_SHARE
    se_over_sd = np.nanmean(half / 1.96, axis=0) / np.nanstd(est, axis=0)
    head = (f'{"class":<11} {"true px":>11} {"share":>6} {"mapped px":>11} {"cover95":>8} {"MC SE":>6} '
            f'{"±95% (%)":>9} {"SE/SD":>6} {"|est-true|":>11} {"|map-true|":>11} {"ratio":>6} {"UA cov":>7} '
            f'{"PA cov":>7}  enough')
    print(head)
    print('-' * len(head))
    for c in range(K):
        ua = np.mean(acc_cover['users'][c]) if acc_cover['users'][c] else float('nan')
        pa = np.mean(acc_cover['producers'][c]) if acc_cover['producers'][c] else float('nan')
        print(f'{CLASSES[c]:<11} {true_px[c]:>11,.0f} {100 * true_px[c] / true_px.sum():>5.1f}% {map_px[c]:>11,.0f} '
              f'{100 * cover[c]:>7.1f}% {100 * mc_se[c]:>6.1f} {100 * np.nanmean(half[:, c]) / true_px[c]:>9.1f} '
              f'{se_over_sd[c]:>6.2f} {err_est[c]:>11,.0f} {err_map[c]:>11,.0f} {err_est[c] / err_map[c]:>6.2f} '
              f'{100 * ua:>6.1f}% {100 * pa:>6.1f}%  {"yes" if enough[c] else "no"}')
    print(f'overall accuracy: true {true_oa:.4f}, 95 % interval covers it in '
          f'{100 * np.mean(acc_cover["overall"]):.1f} % of the draws')
    # the estimates of each class's area are skewed when a class hides in a large stratum of another: the misses
    # and the excesses of the interval are then unequal
    low, high = np.nanmean(est + half < true_px, axis=0), np.nanmean(est - half > true_px, axis=0)
    print('intervals below / above the truth (%): ' + ', '.join(
        f'{CLASSES[c]} {100 * low[c]:.1f} / {100 * high[c]:.1f}' for c in range(K)))
    sel = enough
    print(f'RESULT_COVERAGE min={100 * cover[sel].min():.1f} max={100 * cover[sel].max():.1f} '
          f'est_vs_map={err_est[sel].sum() / err_map[sel].sum():.3f} draws={args.draws} n={int(alloc.sum())} '
          f'min_per_stratum={min_per_stratum}')


def main(argv=None):
    args = parse_args(argv)
    from vnseg.core.classes import CLASSES
    K = len(CLASSES)
    truth, mapped = scene(args, K)
    valid = mapped < K
    print(f'scene: tiles {args.test_tiles}, {truth.shape[1]} x {truth.shape[0]} pixels, {int(valid.sum()):,} labelled; '
          + ('map: Gaussian pixel classifier (tiny model, see the docstring)' if args.class_maps is None
             else f'map: {args.class_maps}'))
    conf = np.bincount(mapped[valid].astype(np.int64) * K + truth[valid], minlength=K * K).reshape(K, K)
    with np.errstate(invalid='ignore', divide='ignore'):
        true_ua, true_pa = np.diag(conf) / conf.sum(axis=1), np.diag(conf) / conf.sum(axis=0)
    iou = np.diag(conf) / (conf.sum(axis=0) + conf.sum(axis=1) - np.diag(conf))
    print(f'map quality (all labelled pixels): overall accuracy {np.trace(conf) / conf.sum():.3f}; user\'s '
          + ', '.join(f'{c} {u:.2f}' for c, u in zip(CLASSES, true_ua)) + "; producer's "
          + ', '.join(f'{c} {p:.2f}' for c, p in zip(CLASSES, true_pa)) + '; IoU '
          + ', '.join(f'{c} {100 * v:.1f}' for c, v in zip(CLASSES, iou)))
    for n in args.n:
        for m in args.min_per_stratum:
            simulate(truth, mapped, n, m, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
