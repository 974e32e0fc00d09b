"""The stratified estimators of areas and accuracy against values worked by hand and a published example,
and their 95 % intervals' coverage checked by simulation."""
import math

import numpy as np
import pytest

from vnseg.geo.area_estimation import ReviewedSample, Strata, estimate_accuracy, estimate_ratio, estimate_total


def _sample(rows):
    """``[(stratum, map class, reference class), ...]`` -> :class:`ReviewedSample`."""
    s, m, r = zip(*rows) if rows else ((), (), ())
    return ReviewedSample(np.array(s, int), np.array(m, int), np.array(r, int))


def _points_of_matrix(counts):
    """Error matrix (rows = map class = stratum, columns = reference) -> reviewed points."""
    return _sample([(i, i, j) for i, row in enumerate(counts) for j, n in enumerate(row) for _ in range(n)])


# ------------------------------------------------------------------------------------------------
# strata = map classes, small enough to work by hand (finite population correction included)
# ------------------------------------------------------------------------------------------------
#: 3 classes; stratum i = map class i; N_i pixels of 0.5 m^2 each; error matrix of the reviewed points.
SMALL_N = [60, 30, 10]
SMALL_COUNTS = [[8, 1, 1],   # 10 points mapped 0
                [1, 4, 0],   # 5 points mapped 1
                [0, 1, 3]]   # 4 points mapped 2


def _small():
    strata = Strata(['c0', 'c1', 'c2'], area=np.array(SMALL_N) * 0.5, pixels=SMALL_N, map_class=[0, 1, 2])
    return strata, _points_of_matrix(SMALL_COUNTS)


def test_strata_equal_to_map_classes_by_hand():
    strata, sample = _small()
    est = estimate_accuracy(sample, strata, ['c0', 'c1', 'c2'])
    # weights W = 30/50, 15/50, 5/50 = 0.6, 0.3, 0.1 (area 50 m^2); fpc 1 - n/N = 50/60, 25/30, 6/10
    W = [0.6, 0.3, 0.1]
    fpc = [1 - 10 / 60, 1 - 5 / 30, 1 - 4 / 10]
    n = [10, 5, 4]
    # area proportion of reference class 0: 0.6 * 8/10 + 0.3 * 1/5 + 0.1 * 0/4 = 0.54
    p0 = 0.6 * 0.8 + 0.3 * 0.2 + 0.0
    assert est.area[0].value == pytest.approx(50 * p0)
    # its variance: sum W^2 fpc s^2 / n, s^2 = n/(n-1) p (1-p) within a stratum
    s2 = [10 / 9 * 0.8 * 0.2, 5 / 4 * 0.2 * 0.8, 0.0]
    v0 = sum(W[i] ** 2 * fpc[i] * s2[i] / n[i] for i in range(3))
    assert est.area[0].se == pytest.approx(50 * math.sqrt(v0))
    # reference class 1: 0.6 * 1/10 + 0.3 * 4/5 + 0.1 * 1/4 = 0.325
    assert est.area[1].value == pytest.approx(50 * (0.06 + 0.24 + 0.025))
    # reference class 2: 0.6 * 1/10 + 0 + 0.1 * 3/4 = 0.135; the three add up to the map's 50 m^2
    assert est.area[2].value == pytest.approx(50 * 0.135)
    assert sum(a.value for a in est.area) == pytest.approx(50)
    # error matrix in area proportions: p_ij = W_i n_ij / n_i
    assert est.proportions[0].tolist() == pytest.approx([0.48, 0.06, 0.06])
    assert est.proportions[2].tolist() == pytest.approx([0.0, 0.025, 0.075])
    # overall accuracy 0.6 * 0.8 + 0.3 * 0.8 + 0.1 * 0.75 = 0.795; V = sum W^2 fpc U(1-U)/(n-1)
    assert est.overall.value == pytest.approx(0.795)
    U = [0.8, 0.8, 0.75]
    v_o = sum(W[i] ** 2 * fpc[i] * U[i] * (1 - U[i]) / (n[i] - 1) for i in range(3))
    assert est.overall.se == pytest.approx(math.sqrt(v_o))
    # user's accuracy of class 2: 3/4, V = fpc U(1-U)/(n-1) = 0.6 * 0.1875 / 3
    assert est.users[2].value == pytest.approx(0.75)
    assert est.users[2].se == pytest.approx(math.sqrt(0.6 * 0.75 * 0.25 / 3))
    assert est.overall.ci95 == pytest.approx(1.96 * est.overall.se)
    # producer's accuracy of class 1: p_11 / p_.1 = 0.24 / 0.325
    P = 0.24 / 0.325
    assert est.producers[1].value == pytest.approx(P)
    # Card's variance (Olofsson et al. 2014 eq. 7) with the fpc, in area units: N_j. -> A_j
    A = [30, 15, 5]
    Nhat = 50 * 0.325
    u1 = 0.8
    others = sum(A[i] ** 2 * fpc[i] * (SMALL_COUNTS[i][1] / n[i]) * (1 - SMALL_COUNTS[i][1] / n[i]) / (n[i] - 1)
                 for i in (0, 2))
    v_p = (A[1] ** 2 * fpc[1] * (1 - P) ** 2 * u1 * (1 - u1) / (n[1] - 1) + P ** 2 * others) / Nhat ** 2
    assert est.producers[1].se == pytest.approx(math.sqrt(v_p))
    assert est.mapped_area.tolist() == [30, 15, 5] and est.total_area == 50
    assert est.counts.tolist() == SMALL_COUNTS and est.n == 19 and est.notes == []


def test_olofsson_2014_published_example():
    """Olofsson et al. 2014 (RSE 148), section 5: 10 million 30 m pixels, four strata; the paper's areas (ha)
    with their 95 % intervals, and its overall and user's accuracies with theirs."""
    counts = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
    pixels = [200_000, 150_000, 3_200_000, 6_450_000]
    strata = Strata(['deforestation', 'gain', 'stable forest', 'stable non-forest'],
                    area=np.array(pixels) * 900.0, pixels=pixels, map_class=[0, 1, 2, 3])
    est = estimate_accuracy(_points_of_matrix(counts), strata, strata.names)
    ha = [a.scaled(1e-4) for a in est.area]
    assert [round(a.value) for a in ha] == pytest.approx([21158, 11686, 285770, 581386], abs=1)
    assert [round(a.ci95) for a in ha] == pytest.approx([6158, 3756, 15510, 16282], abs=2)
    assert round(est.overall.value, 3) == 0.947 and round(est.overall.ci95, 3) == 0.018
    assert [round(u.value, 2) for u in est.users] == [0.88, 0.73, 0.93, 0.96]
    assert [round(u.ci95, 2) for u in est.users] == [0.07, 0.10, 0.04, 0.02]
    assert [round(p.value, 2) for p in est.producers] == [0.75, 0.85, 0.93, 0.96]
    assert round(est.producers[0].ci95, 2) == 0.21  # (the producer's variance itself: the hand-worked test above)


# ------------------------------------------------------------------------------------------------
# strata that differ from the map classes (Stehman 2014)
# ------------------------------------------------------------------------------------------------
def test_strata_different_from_map_classes_by_hand():
    # two strata (e.g. zones drawn from an older map), 4000 and 1000 pixels of 1 m^2, 4 points each;
    # classes 0 background, 1 building; points (stratum, map, reference)
    sample = _sample([(0, 1, 1), (0, 1, 0), (0, 0, 0), (0, 0, 0),
                      (1, 1, 1), (1, 1, 1), (1, 0, 1), (1, 0, 0)])
    strata = Strata(['A', 'B'], area=[4000.0, 1000.0], pixels=[4000, 1000], map_class=[-1, -1])
    W, fpc, n = [0.8, 0.2], [1 - 4 / 4000, 1 - 4 / 1000], 4

    # area of building (y = [ref = 1]): ybar = 1/4, 3/4 -> p = 0.8/4 + 0.2 * 3/4 = 0.35; s^2 = 0.25 in both
    est = estimate_total(sample, strata, 2, lambda m, r: r == 1)
    assert est.value == pytest.approx(5000 * 0.35)
    v = W[0] ** 2 * fpc[0] * 0.25 / n + W[1] ** 2 * fpc[1] * 0.25 / n
    assert est.se == pytest.approx(5000 * math.sqrt(v))

    # user's accuracy of building: y = [map = ref = 1], x = [map = 1]
    # A: y = 1,0,0,0 (mean 1/4, s2 1/4), x = 1,1,0,0 (mean 1/2, s2 1/3), s_xy = 1/6
    # B: y = 1,1,0,0 = x (mean 1/2, s2 = s_xy = 1/3)
    # R = (0.8/4 + 0.2/2) / (0.8/2 + 0.2/2) = 0.3 / 0.5 = 0.6
    u = estimate_ratio(sample, strata, 2, lambda m, r: (m == 1) & (r == 1), lambda m, r: m == 1)
    R = 0.6
    assert u.value == pytest.approx(R)
    terms = [W[0] ** 2 * fpc[0] / n * (1 / 4 + R * R / 3 - 2 * R / 6),
             W[1] ** 2 * fpc[1] / n * (1 / 3 + R * R / 3 - 2 * R / 3)]
    assert u.se == pytest.approx(math.sqrt(sum(terms) / 0.5 ** 2))

    # all of it at once; the mapped areas of a mixed design are the map's own
    full = estimate_accuracy(sample, strata, ['background', 'building'], mapped_area=[3100.0, 1900.0])
    assert full.users[1].value == pytest.approx(R) and full.users[1].se == pytest.approx(u.se)
    # producer's accuracy of building: y = [map = ref = 1], x = [ref = 1]: 0.3 / 0.35
    assert full.producers[1].value == pytest.approx(0.3 / 0.35)
    # overall accuracy: A agrees on 3/4, B on 3/4 -> 0.75; s2 = 1/4 in both
    assert full.overall.value == pytest.approx(0.75)
    assert full.overall.se == pytest.approx(math.sqrt(W[0] ** 2 * fpc[0] * 0.25 / n + W[1] ** 2 * fpc[1] * 0.25 / n))
    assert full.mapped_area.tolist() == [3100.0, 1900.0]
    with pytest.raises(ValueError, match='mapped area'):
        estimate_accuracy(sample, strata, ['background', 'building'])


# ------------------------------------------------------------------------------------------------
# not estimable: reported, never a division by zero or a silent zero
# ------------------------------------------------------------------------------------------------
def test_stratum_with_one_point_leaves_standard_errors_not_estimable():
    strata = Strata(['c0', 'c1', 'c2'], area=[600.0, 300.0, 100.0], pixels=[600, 300, 100], map_class=[0, 1, 2])
    sample = _points_of_matrix([[8, 1, 1], [1, 4, 0], [0, 0, 1]])  # stratum c2: a single point
    est = estimate_accuracy(sample, strata, ['c0', 'c1', 'c2'])
    # values still come (every stratum has a mean), their standard errors do not
    assert est.area[0].value == pytest.approx(600 * 0.8 + 300 * 0.2)
    assert est.area[0].se is None and est.area[0].ci95 is None and 'c2' in est.area[0].note
    assert est.overall.value is not None and est.overall.se is None
    # user's accuracy of c0 involves stratum c0 only: fully estimable
    assert est.users[0].value == pytest.approx(0.8) and est.users[0].se is not None
    assert est.users[2].value == 1.0 and est.users[2].se is None
    assert any("'c2'" in note and 'one reviewed point' in note for note in est.notes)


def test_stratum_without_points_is_not_estimable_and_other_users_accuracy_is():
    strata = Strata(['c0', 'c1', 'c2'], area=[600.0, 300.0, 100.0], pixels=[600, 300, 100], map_class=[0, 1, 2])
    sample = _points_of_matrix([[8, 1, 1], [1, 4, 0], [0, 0, 0]])
    est = estimate_accuracy(sample, strata, ['c0', 'c1', 'c2'])
    assert all(a.value is None and a.se is None for a in est.area)
    assert est.overall.value is None and 'no reviewed point' in est.overall.note
    assert all(p.value is None for p in est.producers)
    assert est.users[1].value == pytest.approx(0.8) and est.users[1].se == pytest.approx(
        math.sqrt((1 - 5 / 300) * 0.8 * 0.2 / 4))
    assert est.users[2].value is None and 'no reviewed point' in est.users[2].note
    assert np.isnan(est.proportions[2]).all() and not np.isnan(est.proportions[0]).any()
    assert any("'c2'" in note and 'no reviewed point' in note for note in est.notes)


def test_census_stratum_has_no_sampling_variance():
    # stratum c1 has 5 pixels, all reviewed: it adds no variance (fpc 0), even where it is mixed
    strata = Strata(['c0', 'c1'], area=[1000.0, 5.0], pixels=[1000, 5], map_class=[0, 1])
    sample = _points_of_matrix([[9, 1], [2, 3]])
    est = estimate_accuracy(sample, strata, ['c0', 'c1'])
    assert est.users[1].value == pytest.approx(0.6) and est.users[1].se == 0.0
    v = (1000 / 1005) ** 2 * (1 - 10 / 1000) * (10 / 9 * 0.9 * 0.1) / 10
    assert est.area[1].se == pytest.approx(1005 * math.sqrt(v))


def test_class_never_mapped_but_in_the_reference_gets_its_area():
    # three classes; nothing is mapped as class 2, the reviewers found it in stratum c0
    strata = Strata(['c0', 'c1', 'c2'], area=[800.0, 200.0, 0.0], pixels=[800, 200, 0], map_class=[0, 1, 2])
    sample = _points_of_matrix([[7, 1, 2], [0, 5, 0], [0, 0, 0]])
    est = estimate_accuracy(sample, strata, ['c0', 'c1', 'c2'])
    assert est.mapped_area[2] == 0
    assert est.area[2].value == pytest.approx(800 * 0.2) and est.area[2].se > 0
    assert est.users[2].value is None and "'c2' is not mapped" in est.users[2].note
    assert est.producers[2].value == 0.0  # found, never mapped: producer's accuracy 0 (an estimate, not a gap)
    assert est.notes == []  # an empty stratum without pixels is no problem


def test_class_never_seen_has_no_producers_accuracy():
    strata = Strata(['c0', 'c1'], area=[800.0, 200.0], pixels=[800, 200], map_class=[0, 1])
    est = estimate_accuracy(_points_of_matrix([[5, 0], [5, 0]]), strata, ['c0', 'c1'])
    assert est.producers[1].value is None and 'not in the reference sample' in est.producers[1].note
    assert est.area[1].value == 0.0 and est.area[1].se == 0.0
    assert est.users[1].value == 0.0


def test_bad_ids_are_refused():
    strata = Strata(['c0'], area=[1.0], pixels=[1], map_class=[0])
    with pytest.raises(ValueError, match='reference class'):
        estimate_accuracy(_sample([(0, 0, 3)]), strata, ['c0', 'c1'])


# ------------------------------------------------------------------------------------------------
# statistics by simulation (a synthetic population; the benchmark does it on real labels)
# ------------------------------------------------------------------------------------------------
def _synthetic_population(seed=0, size=240):
    """Truth and map, uint8 (size, size): blocks of classes, class 4 scattered; the map misses part of classes
    2, 3 and 4 and adds class 1 (every error a few tens of percent of a stratum: the normal approximation of
    the intervals holds; rarer errors make Wald-type intervals cover less, as the benchmark shows)."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(4, size=(size // 8, size // 8), p=[0.4, 0.2, 0.15, 0.25])
    truth = np.kron(cells, np.ones((8, 8), np.uint8)).astype(np.uint8)
    truth[rng.random(truth.shape) < 0.1] = 4
    noise = rng.random(truth.shape)
    mapped = truth.copy()
    mapped[(truth == 3) & (noise < 0.3)] = 0   # omission of class 3
    mapped[(truth == 0) & (noise < 0.1)] = 1   # commission of class 1
    mapped[(truth == 4) & (noise < 0.6)] = 0   # class 4 mostly missed
    mapped[(truth == 2) & (noise < 0.35)] = 3
    return truth, mapped


def test_95_percent_intervals_cover_the_true_areas():
    from vnseg.geo.sampling import ClassMap, allocate, count_strata, draw_points
    truth, mapped = _synthetic_population()
    cm = ClassMap(mapped)
    table = count_strata(cm, block_rows=64)
    true_px = np.bincount(truth.ravel(), minlength=5)
    alloc = allocate(table.pixels, table.area, 600, 60)
    strata = Strata(table.labels(), table.area, table.pixels, np.arange(5))
    draws = 300
    est, half = np.zeros((draws, 5)), np.zeros((draws, 5))
    for seed in range(draws):
        pts = draw_points(cm, table, alloc, seed)
        e = estimate_accuracy(ReviewedSample(pts.stratum, mapped[pts.row, pts.col], truth[pts.row, pts.col]),
                              strata, [str(c) for c in range(5)])
        est[seed] = [a.value for a in e.area]
        half[seed] = [a.ci95 for a in e.area]
    coverage = np.mean(np.abs(est - true_px) <= half, axis=0)
    err_est = np.mean(np.abs(est - true_px), axis=0)
    err_map = np.abs(table.pixels - true_px)
    print('coverage', coverage, 'mean |est - true|', err_est.round(1), '|mapped - true|', err_map)
    # the standard errors are the spread of the estimates from draw to draw (unbiased: centred on the truth)
    assert np.allclose(np.mean(half / 1.96, axis=0), est.std(axis=0), rtol=0.12)
    assert np.all(np.abs(est.mean(axis=0) - true_px) < 4 * est.std(axis=0) / math.sqrt(draws))
    # 300 draws: a 95 % interval covers 91.9-98.1 % of them with 99 % probability
    assert np.all(coverage >= 0.915) and np.all(coverage <= 0.985), coverage
    # the map is biased for the classes it confuses; the estimates are not
    for c in (0, 3, 4):
        assert err_est[c] < 0.5 * err_map[c], (c, err_est[c], err_map[c])
