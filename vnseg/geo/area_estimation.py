"""Stratified estimators of class areas and map accuracy from a reviewed sample, with standard errors.

A stratified random sample of pixels was drawn on the class map (:mod:`vnseg.geo.sampling`): stratum
``h`` holds ``N_h`` pixels covering the area ``A_h`` (the weight ``W_h = A_h / A`` of the population
``A = sum_h A_h``), and ``n_h`` of its pixels got a reference class from a reviewer. Every quantity
reported is a total, or a ratio of two totals, of a 0/1 variable of the pixels (Stehman 2014, sections 2-3):

* total of ``y``:  ``Y^ = sum_h A_h ybar_h``, with
  ``V(Y^) = sum_h A_h^2 (1 - n_h / N_h) s2_yh / n_h``
  (Cochran 1977, Sampling Techniques, chapter 5: the stratified mean and its variance; ``ybar_h`` and
  ``s2_yh`` are the sample mean and variance (divisor ``n_h - 1``) of ``y`` in stratum ``h``, and
  ``1 - n_h / N_h`` the finite population correction);
* ratio ``R = Y / X``:  ``R^ = Y^ / X^``, with
  ``V(R^) = (1 / X^^2) sum_h A_h^2 (1 - n_h / N_h) (s2_yh + R^^2 s2_xh - 2 R^ s_xyh) / n_h``
  (Cochran 1977, chapter 6: the combined ratio estimate in stratified sampling; Stehman 2014: a ratio of
  totals).

With ``map = i`` and ``ref = j`` the map and reference class of a pixel:

=========================  ===================================  ========================================
quantity                   variable(s)                          estimator
=========================  ===================================  ========================================
area of class j            ``y = [ref = j]``                    total ``A^_j`` (area units), SE
area proportion ``p^_.j``  same                                 ``A^_j / A``
error matrix ``p^_ij``     ``y = [map = i and ref = j]``        total / ``A`` (estimated area proportion)
overall accuracy ``O^``    ``y = [map = ref]``                  total / ``A``
user's accuracy ``U^_i``   ``y = [map = i = ref]``, ``x = [map = i]``  ratio
producer's ``P^_j``        ``y = [map = j = ref]``, ``x = [ref = j]``  ratio
=========================  ===================================  ========================================

**Strata = map classes** (the default design): these are exactly the estimators of Olofsson et al. 2014
("Good practices for estimating area and assessing accuracy of land change", Remote Sensing of
Environment 148, 42-57): ``p^_ij = W_i n_ij / n_i.``, the area ``A^_j = A sum_i W_i n_ij / n_i.`` with
``SE(p^_.j) = sqrt(sum_i W_i^2 (n_ij / n_i.)(1 - n_ij / n_i.) / (n_i. - 1))``, ``V(O^) = sum_i W_i^2 U^_i (1 -
U^_i) / (n_i. - 1)``, ``V(U^_i) = U^_i (1 - U^_i) / (n_i. - 1)`` and their producer's accuracy variance
(Card 1982), which the ratio formula reduces to; they differ only by the finite population correction,
which is 1 for a sample of a few hundred pixels of a map of millions, and 0 for a stratum sampled whole.

**Strata that differ from the map classes** (zone x class strata estimated for a whole map, or strata
drawn on another map): the same totals and ratios, as Stehman 2014 ("Estimating area and map accuracy for
stratified random sampling when the strata are different from the map classes", International Journal of
Remote Sensing 35, 4923-4939) derives them.

**Not estimable, never a silent zero.** A stratum whose map class decides a variable (every pixel of the
stratum "building" has ``[map = water] = 0``) contributes that known value with no variance, whatever its
sample. Otherwise a stratum with no reviewed point leaves the estimate undefined, and one with a single
point (and more pixels) leaves its variance undefined: the value or the standard error is then ``None``
and :attr:`Estimate.note` says why; a ratio whose denominator is estimated as 0 (a class never mapped,
or never seen in the reference) is ``None`` too. A class that no pixel of the map shows but the
reviewers found gets its area from the strata where they found it.

Pixels of one stratum are taken to have the same ground area (the map's pixel area varies by less than
1e-3 across a drone mosaic; :mod:`vnseg.geo.areas`), so a stratum's share of reviewed pixels is its
share of area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

__all__ = ['Z95', 'Strata', 'ReviewedSample', 'Estimate', 'AccuracyEstimates', 'estimate_total',
           'estimate_ratio', 'estimate_accuracy']

#: Normal quantile of a two-sided 95 % interval: the ``*_ci95`` values are ``Z95 x SE``.
Z95 = 1.96

#: A 0/1 variable of a pixel from its map and reference class ids (vectorised over numpy arrays).
Variable = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _as_arrays(record, **dtypes):
    """Turn the named fields of a dataclass into numpy arrays of the given dtypes (lists are accepted)."""
    for name, dtype in dtypes.items():
        setattr(record, name, np.asarray(getattr(record, name), dtype))


@dataclass
class Strata:
    """The strata of a design: their sizes and what the map says in them.

    Attributes:
        names: a label per stratum (notes name it).
        area: ``float (H,)`` mapped area of each stratum (m^2, or pixels without ground units).
        pixels: ``int (H,)`` pixels ``N_h`` of each stratum (the finite population correction).
        map_class: ``int (H,)`` the map class of every pixel of the stratum, -1 where the stratum
            mixes map classes (strata that are not the map classes).
    """

    names: Sequence[str]
    area: np.ndarray
    pixels: np.ndarray
    map_class: np.ndarray

    def __post_init__(self):
        _as_arrays(self, area=np.float64, pixels=np.int64, map_class=np.int64)
        if not len(self.names) == len(self.area) == len(self.pixels) == len(self.map_class):
            raise ValueError('strata: names, area, pixels and map_class must have one entry per stratum')

    def __len__(self) -> int:
        return len(self.area)

    def subset(self, index: Sequence[int]) -> 'Strata':
        """The strata ``index`` (e.g. those of one zone) as a design of their own."""
        index = np.asarray(index, np.int64)
        return Strata([self.names[i] for i in index], self.area[index], self.pixels[index], self.map_class[index])


@dataclass
class ReviewedSample:
    """The reviewed points: stratum index, map class id and reference class id per point (``int (n,)``)."""

    stratum: np.ndarray
    map_class: np.ndarray
    reference: np.ndarray

    def __post_init__(self):
        _as_arrays(self, stratum=np.int64, map_class=np.int64, reference=np.int64)

    def __len__(self) -> int:
        return len(self.stratum)


@dataclass
class Estimate:
    """An estimate with its standard error; ``None`` where it is not estimable (``note`` says why)."""

    value: Optional[float]
    se: Optional[float]
    note: str = ''

    @property
    def ci95(self) -> Optional[float]:
        """Half-width of the 95 % confidence interval (``Z95 x SE``), None when the SE is not estimable."""
        return None if self.se is None else Z95 * self.se

    def scaled(self, factor: float) -> 'Estimate':
        """The same estimate in other units (``value`` and ``se`` times ``factor``)."""
        return Estimate(None if self.value is None else self.value * factor,
                        None if self.se is None else self.se * factor, self.note)


@dataclass
class AccuracyEstimates:
    """Everything :func:`estimate_accuracy` estimates for one population (a map, or one zone).

    Attributes:
        n: reviewed points used.
        n_per_stratum: ``int (H,)`` reviewed points per stratum.
        counts: ``int (K, K)`` error matrix of the sample, rows = map class, columns = reference class.
        proportions: ``float (K, K)`` estimated area proportions ``p^_ij`` (NaN where not estimable).
        total_area: ``A``, the area of the population (sum of the strata).
        mapped_area: ``float (K,)`` mapped area of each class.
        overall: overall accuracy.
        users, producers: user's and producer's accuracy per class.
        area: estimated area per class (the units of :attr:`Strata.area`).
        notes: one sentence per stratum that is not (fully) estimable.
    """

    n: int
    n_per_stratum: np.ndarray
    counts: np.ndarray
    proportions: np.ndarray
    total_area: float
    mapped_area: np.ndarray
    overall: Estimate
    users: List[Estimate]
    producers: List[Estimate]
    area: List[Estimate]
    notes: List[str] = field(default_factory=list)


@dataclass
class _Moments:
    """Per-stratum sample moments of one or two variables, and whether each stratum is usable."""

    mean_y: np.ndarray
    mean_x: np.ndarray
    var_y: np.ndarray
    var_x: np.ndarray
    cov_xy: np.ndarray
    factor: np.ndarray        # (1 - n_h / N_h) / n_h, 0 where the stratum is known or sampled whole
    no_mean: List[int]        # strata whose mean is unknown (no reviewed point)
    no_var: List[int]         # strata whose variance is unknown (one reviewed point of several pixels)


def _known_value(var: Variable, map_class: int, n_classes: int) -> Optional[float]:
    """The value of ``var`` on every pixel of a stratum whose pixels all have ``map_class``, if the map
    class alone decides it (whatever the reference class); None when it depends on the reference."""
    if map_class < 0:
        return None
    values = np.asarray(var(np.full(n_classes, map_class), np.arange(n_classes)), np.float64)
    return float(values[0]) if np.all(values == values[0]) else None


def _moments(sample: ReviewedSample, strata: Strata, n_classes: int, y: Variable,
             x: Optional[Variable] = None) -> _Moments:
    H = len(strata)
    out = _Moments(*(np.zeros(H) for _ in range(6)), [], [])
    yv = np.asarray(y(sample.map_class, sample.reference), np.float64)
    xv = np.asarray(x(sample.map_class, sample.reference), np.float64) if x is not None else yv
    for h in range(H):
        if strata.area[h] <= 0:
            continue
        ky = _known_value(y, int(strata.map_class[h]), n_classes)
        kx = _known_value(x, int(strata.map_class[h]), n_classes) if x is not None else ky
        sel = sample.stratum == h
        n = int(sel.sum())
        ys, xs = yv[sel], xv[sel]
        if ky is not None and kx is not None:  # the map decides both: exact, no variance
            out.mean_y[h], out.mean_x[h] = ky, kx
            continue
        if n == 0:
            out.no_mean.append(h)
            continue
        out.mean_y[h] = ky if ky is not None else ys.mean()
        out.mean_x[h] = kx if kx is not None else xs.mean()
        census = n >= strata.pixels[h]
        if census:
            continue
        if n == 1:
            out.no_var.append(h)
            continue
        out.var_y[h] = 0.0 if ky is not None else ys.var(ddof=1)
        out.var_x[h] = 0.0 if kx is not None else xs.var(ddof=1)
        out.cov_xy[h] = 0.0 if (ky is not None or kx is not None) else float(
            np.sum((ys - ys.mean()) * (xs - xs.mean())) / (n - 1))
        out.factor[h] = (1.0 - n / strata.pixels[h]) / n
    return out


def _stratum_note(strata: Strata, m: _Moments) -> str:
    parts = []
    if m.no_mean:
        parts.append('no reviewed point in stratum ' + ', '.join(repr(strata.names[h]) for h in m.no_mean))
    if m.no_var:
        parts.append('one reviewed point in stratum ' + ', '.join(repr(strata.names[h]) for h in m.no_var))
    return '; '.join(parts)


def estimate_total(sample: ReviewedSample, strata: Strata, n_classes: int, y: Variable) -> Estimate:
    """Stratified estimate of the total of ``y`` (area units) and its standard error.

    ``Y^ = sum_h A_h ybar_h``, ``V(Y^) = sum_h A_h^2 (1 - n_h / N_h) s2_yh / n_h`` (Cochran 1977, ch. 5).

    Args:
        sample: the reviewed points.
        strata: the design's strata.
        n_classes: number of classes K (class ids 0..K-1).
        y: the variable, ``y(map_class, reference) -> 0/1``.
    """
    m = _moments(sample, strata, n_classes, y)
    note = _stratum_note(strata, m)
    if m.no_mean:
        return Estimate(None, None, note)
    value = float(strata.area @ m.mean_y)
    if m.no_var:
        return Estimate(value, None, note)
    return Estimate(value, math.sqrt(float(np.sum(strata.area ** 2 * m.factor * m.var_y))))


def estimate_ratio(sample: ReviewedSample, strata: Strata, n_classes: int, y: Variable, x: Variable,
                   zero_note: str = 'denominator estimated as 0') -> Estimate:
    """Combined ratio estimate ``R^ = Y^ / X^`` of two totals and its standard error.

    ``V(R^) = (1 / X^^2) sum_h A_h^2 (1 - n_h / N_h) (s2_yh + R^^2 s2_xh - 2 R^ s_xyh) / n_h``
    (Cochran 1977, ch. 6; Stehman 2014).

    Args:
        sample, strata, n_classes, y: as :func:`estimate_total`.
        x: the denominator's variable.
        zero_note: the note when ``X^ = 0`` (the ratio is not defined).
    """
    m = _moments(sample, strata, n_classes, y, x)
    note = _stratum_note(strata, m)
    if m.no_mean:
        return Estimate(None, None, note)
    total_y, total_x = float(strata.area @ m.mean_y), float(strata.area @ m.mean_x)
    if total_x <= 0:
        return Estimate(None, None, zero_note)
    r = total_y / total_x
    if m.no_var:
        return Estimate(r, None, note)
    v = np.sum(strata.area ** 2 * m.factor * (m.var_y + r * r * m.var_x - 2 * r * m.cov_xy)) / total_x ** 2
    return Estimate(r, math.sqrt(max(float(v), 0.0)))


def estimate_accuracy(sample: ReviewedSample, strata: Strata, class_names: Sequence[str],
                      mapped_area: Optional[Sequence[float]] = None) -> AccuracyEstimates:
    """Areas, error matrix and accuracies of the population made of ``strata``.

    Args:
        sample: the reviewed points of these strata (``stratum`` indexes ``strata``).
        strata: the strata.
        class_names: the class names (K of them; class ids 0..K-1), used in notes.
        mapped_area: mapped area of each class in the population; by default the sum of the strata of
            each map class (needed when a stratum mixes map classes: the map's own class areas).

    Raises:
        ValueError: class ids outside 0..K-1, stratum indices outside the strata, or strata that mix
            map classes without ``mapped_area``.
    """
    K = len(class_names)
    H = len(strata)
    for name, arr, top in (('map class', sample.map_class, K), ('reference class', sample.reference, K),
                           ('stratum', sample.stratum, H)):
        if len(arr) and (arr.min() < 0 or arr.max() >= top):
            raise ValueError(f'{name} ids must be 0..{top - 1}')
    if mapped_area is None:
        if np.any(strata.map_class < 0):
            raise ValueError('strata that mix map classes need the mapped area of each class')
        mapped_area = np.bincount(strata.map_class, weights=strata.area, minlength=K)[:K]
    mapped_area = np.asarray(mapped_area, np.float64)
    total = float(strata.area.sum())
    counts = np.zeros((K, K), np.int64)
    np.add.at(counts, (sample.map_class, sample.reference), 1)
    n_per_stratum = np.bincount(sample.stratum, minlength=H)

    def cell(i, j):
        return lambda mp, rf: (mp == i) & (rf == j)

    proportions = np.full((K, K), np.nan)
    for i in range(K):
        for j in range(K):
            e = estimate_total(sample, strata, K, cell(i, j))
            if e.value is not None and total > 0:
                proportions[i, j] = e.value / total
    overall = estimate_total(sample, strata, K, lambda mp, rf: mp == rf).scaled(1 / total if total else 0)
    users, producers, areas = [], [], []
    for c in range(K):
        name = class_names[c]
        users.append(estimate_ratio(sample, strata, K, cell(c, c), lambda mp, rf, c=c: mp == c,
                                    zero_note=f'{name!r} is not mapped'))
        producers.append(estimate_ratio(sample, strata, K, cell(c, c), lambda mp, rf, c=c: rf == c,
                                        zero_note=f'{name!r} is not in the reference sample'))
        areas.append(estimate_total(sample, strata, K, lambda mp, rf, c=c: rf == c))
    notes = []
    for h in range(H):
        if strata.area[h] <= 0:
            continue
        n = int(n_per_stratum[h])
        if n == 0:
            notes.append(f'stratum {strata.names[h]!r} ({int(strata.pixels[h])} pixels) has no reviewed point: '
                         'estimates that depend on it are not estimable')
        elif n == 1 and strata.pixels[h] > 1:
            notes.append(f'stratum {strata.names[h]!r} has one reviewed point: standard errors that depend on '
                         'it are not estimable')
    return AccuracyEstimates(n=len(sample), n_per_stratum=n_per_stratum, counts=counts, proportions=proportions,
                             total_area=total, mapped_area=mapped_area, overall=overall, users=users,
                             producers=producers, area=areas, notes=notes)
