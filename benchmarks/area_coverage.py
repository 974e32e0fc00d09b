"""Do the 95 % intervals of ``vnseg accuracy`` cover the true class areas? A simulation on real labels.

    python benchmarks/area_coverage.py [--test-tiles 5 6] [--train-tiles 1 2 3 4] [--draws 1000] [--n 500]
        [--min-per-stratum 50] [--class-maps DIR] [--seed 0] [--chart PNG]

The population is the labelled Dubai test tiles (``../shared/data/dubai_aerial``, tiles 5 and 6: 9 images
of 1126 x 1058 and 9 of 859 x 838 pixels, stacked into one scene of 17.2 million labelled pixels; pixels
without a label are nodata), whose true class areas come from their masks (``masks_5class``). The class
map is, by default, **a quickly trained tiny model**: a per-pixel Gaussian classifier (quadratic
discriminant on colour and local texture: 9 features) fitted on a subsample of the train tiles' pixels
(tiles 1-4), applied to the test tiles and smoothed by a 7 x 7 majority filter -- a weak model, whose
errors are real classification errors on unseen tiles (the statistics hold for any map). ``--class-maps
DIR`` takes instead a real model's maps of the test images (``DIR/<image stem>*.png|tif``, e.g. from
``vnseg map``).

Each draw is what a planner does: ``vnseg sample``'s stratified random sample of ``--n`` points on the
class map (strata = map classes, ``--min-per-stratum`` then proportional allocation; the library's own
drawing), each point labelled from the true mask (a perfect reviewer), and ``vnseg accuracy``'s
estimators. Over ``--draws`` independent draws it prints per class: the true and mapped area (pixels),
the share of draws whose 95 % interval covers the true area (should be 92-98 % for classes with enough
pixels: >= 1 % of the scene), the mean interval half-width, the mean standard error over the spread of the
estimates from draw to draw (SE/SD: 1 when the standard errors are right), and the mean |estimate - truth| against
|mapped - truth|; then the same coverage for the overall, user's and producer's accuracies (their true
values from the full error matrix). Last line: ``RESULT_COVERAGE min=<lowest class coverage among
classes with enough pixels> max=<highest> est_vs_map=<mean |est - true| / |mapped - true| summed over
those classes>``.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DUBAI = REPO.parent / 'shared' / 'data' / 'dubai_aerial'
ENOUGH_SHARE = 0.01


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(DUBAI), help='the dubai_aerial folder')
    p.add_argument('--test-tiles', nargs='+', type=int, default=[5, 6])
    p.add_argument('--train-tiles', nargs='+', type=int, default=[1, 2, 3, 4])
    p.add_argument('--draws', type=int, default=1000, help='independent samples (at least 200)')
    p.add_argument('--n', type=int, default=500, help='points per sample')
    p.add_argument('--min-per-stratum', type=int, default=50)
    p.add_argument('--class-maps', default=None, help="a model's class maps of the test images (instead of the "
                                                      'pixel classifier)')
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


def model_map(path: Path, class_maps: Path):
    hits = sorted(p for p in class_maps.glob(f'{path.stem}*') if p.suffix.lower() in ('.png', '.tif', '.tiff'))
    if not hits:
        raise SystemExit(f'error: {class_maps}: no class map named {path.stem}*.png|tif')
    if hits[0].suffix.lower() == '.png':
        return read_mask(hits[0])
    import rasterio
    with rasterio.open(hits[0]) as ds:
        return ds.read(1)


def scene(args, n_classes: int):
    """``(truth, mapped)``: the test tiles' parts stacked (padded with nodata), nodata where unlabelled."""
    data = Path(args.data)
    clf = None
    if args.class_maps is None:
        t0 = time.perf_counter()
        clf = train_classifier(data, args.train_tiles, n_classes, args.seed)
        print(f'pixel classifier fitted on tiles {args.train_tiles} in {time.perf_counter() - t0:.0f} s')
    truths, maps = [], []
    for tile in args.test_tiles:
        for img, mask in tile_parts(data, tile):
            truth = read_mask(mask).astype(np.uint8)
            if clf is not None:
                mapped = majority(clf.predict(features(read_rgb(img))), n_classes)
            else:
                mapped = model_map(img, Path(args.class_maps)).astype(np.uint8)
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
def main(argv=None):
    args = parse_args(argv)
    from vnseg.classes import CLASSES
    from vnseg.geo.area_estimation import ReviewedSample, Strata, estimate_accuracy
    from vnseg.geo.sampling import ClassMap, allocate, count_strata, draw_points
    K = len(CLASSES)
    truth, mapped = scene(args, K)
    valid = mapped < K
    print(f'scene: tiles {args.test_tiles}, {truth.shape[1]} x {truth.shape[0]} pixels, {int(valid.sum()):,} labelled; '
          + ('map: Gaussian pixel classifier (tiny model, see the docstring)' if args.class_maps is None
             else f'map: {args.class_maps}'))
    conf = np.bincount(mapped[valid].astype(np.int64) * K + truth[valid], minlength=K * K).reshape(K, K)
    true_px = conf.sum(axis=0).astype(float)
    map_px = conf.sum(axis=1).astype(float)
    true_oa = np.trace(conf) / conf.sum()
    with np.errstate(invalid='ignore', divide='ignore'):
        true_ua, true_pa = np.diag(conf) / map_px, np.diag(conf) / true_px
    print(f'map quality (all labelled pixels): overall accuracy {true_oa:.3f}; user\'s '
          + ', '.join(f'{c} {u:.2f}' for c, u in zip(CLASSES, true_ua)) + "; producer's "
          + ', '.join(f'{c} {p:.2f}' for c, p in zip(CLASSES, true_pa)))
    cm = ClassMap(mapped)
    table = count_strata(cm, block_rows=512)
    alloc = allocate(table.pixels, table.area, args.n, args.min_per_stratum)
    strata = Strata(table.labels(), table.area, table.pixels, np.arange(K))
    print(f'{args.draws} draws of {int(alloc.sum())} points (per stratum {alloc.tolist()})')
    est = np.full((args.draws, K), np.nan)
    half = np.full((args.draws, K), np.nan)
    acc_cover = dict(overall=[], users=[[] for _ in range(K)], producers=[[] for _ in range(K)])
    t0 = time.perf_counter()
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
    print(f'{time.perf_counter() - t0:.0f} s for the draws')
    cover = np.nanmean(np.abs(est - true_px) <= half, axis=0)
    err_est = np.nanmean(np.abs(est - true_px), axis=0)
    err_map = np.abs(map_px - true_px)
    enough = true_px / true_px.sum() >= ENOUGH_SHARE
    se_over_sd = np.nanmean(half / 1.96, axis=0) / np.nanstd(est, axis=0)
    head = (f'{"class":<11} {"true px":>11} {"share":>6} {"mapped px":>11} {"cover95":>8} {"±95% (%)":>9} '
            f'{"SE/SD":>6} {"|est-true|":>11} {"|map-true|":>11} {"ratio":>6} {"UA cov":>7} {"PA cov":>7}  enough')
    print(head)
    print('-' * len(head))
    for c in range(K):
        ua = np.mean(acc_cover['users'][c]) if acc_cover['users'][c] else float('nan')
        pa = np.mean(acc_cover['producers'][c]) if acc_cover['producers'][c] else float('nan')
        print(f'{CLASSES[c]:<11} {true_px[c]:>11,.0f} {100 * true_px[c] / true_px.sum():>5.1f}% {map_px[c]:>11,.0f} '
              f'{100 * cover[c]:>7.1f}% {100 * np.nanmean(half[:, c]) / true_px[c]:>9.1f} {se_over_sd[c]:>6.2f} '
              f'{err_est[c]:>11,.0f} '
              f'{err_map[c]:>11,.0f} {err_est[c] / err_map[c]:>6.2f} {100 * ua:>6.1f}% {100 * pa:>6.1f}%  '
              f'{"yes" if enough[c] else "no"}')
    print(f'overall accuracy: true {true_oa:.4f}, 95 % interval covers it in '
          f'{100 * np.mean(acc_cover["overall"]):.1f} % of the draws')
    sel = enough
    print(f'RESULT_COVERAGE min={100 * cover[sel].min():.1f} max={100 * cover[sel].max():.1f} '
          f'est_vs_map={err_est[sel].sum() / err_map[sel].sum():.3f} draws={args.draws} n={int(alloc.sum())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
