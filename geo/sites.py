"""Where new stations would cover the most demand: the maximal covering location problem.

Model (Church and ReVelle's MCLP, given the existing stations): demand points are the centroids of
grid cells the existing stations leave uncovered, weighted by their demand ``w_i``; candidates
are grid-cell centroids or points along the streets, at least ``min_spacing_m`` from every
existing station; ``N_i`` is the set of candidates within ``radius_m`` of demand point ``i``
(straight line or along the streets)::

    maximise    sum_i w_i y_i
    subject to  y_i <= sum_{j in N_i} x_j      for every demand point i
                sum_j x_j = count
                x_j in {0, 1},  0 <= y_i <= 1

The inverse question (fewest sites for a target share) minimises ``sum_j x_j`` subject to
``sum_i w_i y_i >= target``. Both are solved to proven optimality by HiGHS through
``scipy.optimize.milp`` on a sparse constraint matrix (one row per demand point, one non-zero per
candidate that covers it); a greedy heuristic is used only when asked, or when the solver stops at
its time limit without an incumbent, and the result says which answer it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.spatial import cKDTree

from geo import crs as gcrs
from geo.assign import assign_points
from geo.city import City
from geo.coverage import Coverage, Metric, Summary
from geo.errors import InvalidInput, check_choice

CandidateKind = Literal["cells", "streets"]
CANDIDATE_KINDS: tuple[CandidateKind, ...] = get_args(CandidateKind)
Method = Literal["milp", "greedy"]
METHODS: tuple[Method, ...] = get_args(Method)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Solution:
    """The chosen candidates and how the answer was found."""

    chosen: IntArray  # candidate indices, in order of the demand each adds
    objective: float  # demand newly covered
    optimal: bool  # proven optimal
    solver: str  # "HiGHS MILP", "HiGHS MILP (time limit)", "greedy"


@dataclass(frozen=True)
class Suggestion:
    """Suggested sites with what each adds, and coverage before and after."""

    sites: gpd.GeoDataFrame
    before: Summary  # demand, demand_covered, demand_covered_share
    after: Summary
    optimal: bool
    solver: str
    radius_m: float
    metric: Metric


# -- the solvers, on plain arrays ------------------------------------------------------------


def cover_matrix(
    cand_idx: IntArray, demand_idx: IntArray, *, n_candidates: int, n_demand: int
) -> sparse.csr_matrix:
    """Boolean demand x candidate matrix from (candidate, demand) pairs within the radius."""
    data = np.ones(len(cand_idx), dtype=np.float64)
    m = sparse.csr_matrix((data, (demand_idx, cand_idx)), shape=(n_demand, n_candidates))
    m.data[:] = 1.0  # duplicates collapse to one
    return m


def solve_mclp(
    weights: npt.ArrayLike,
    cover: sparse.csr_matrix,
    *,
    count: int,
    time_limit_s: float = 60.0,
    method: Method = "milp",
) -> Solution:
    """Choose ``count`` candidates maximising the covered weight (see the module docstring)."""
    weights = np.asarray(weights, float)
    n_d, n_c = cover.shape
    if count < 1:
        raise InvalidInput(f"count must be at least 1, got {count!r}")
    if count > n_c:
        raise InvalidInput(f"count {count} is more than the {n_c} candidate sites")
    if method == "greedy":
        return _greedy(weights, cover, count=count)
    method = check_choice("method", method, METHODS)
    agg_weights, agg_cover = aggregate_demand(weights, cover)
    n_d = agg_cover.shape[0]
    c = np.concatenate([np.zeros(n_c), -agg_weights])
    rows = sparse.hstack([-agg_cover, sparse.identity(n_d, format="csr")], format="csr")
    pick = sparse.csr_matrix(np.concatenate([np.ones(n_c), np.zeros(n_d)])[None, :])
    constraints = [LinearConstraint(rows, -np.inf, 0), LinearConstraint(pick, count, count)]
    # The LP relaxation by interior point (with crossover to a vertex) is often integral already,
    # which proves it optimal; it is ~10x faster than the dual simplex the MIP solver starts with.
    relaxed = linprog(
        c,
        A_ub=rows,
        b_ub=np.zeros(n_d),
        A_eq=pick,
        b_eq=[count],
        bounds=(0, 1),
        method="highs-ipm",
        options={"time_limit": time_limit_s},
    )
    if relaxed.status == 0:
        x = relaxed.x[:n_c]
        if np.all(np.minimum(x, 1 - x) < 1e-7):
            chosen = np.flatnonzero(x > 0.5)
            return Solution(
                chosen=_order_by_gain(weights, cover, chosen),
                objective=_covered(weights, cover, chosen),
                optimal=True,
                solver="HiGHS LP (integral relaxation)",
            )
    return _solve_milp(c, constraints, weights, cover, time_limit_s, count=count)


def _solve_milp(
    c: FloatArray,
    constraints: list[LinearConstraint],
    weights: FloatArray,
    cover: sparse.csr_matrix,
    time_limit_s: float,
    *,
    count: int | None = None,
    target: float | None = None,
) -> Solution:
    """HiGHS on x (binary, one per candidate) then y (continuous); greedy if it finds nothing."""
    n_c = cover.shape[1]
    result = milp(
        c,
        integrality=np.concatenate([np.ones(n_c), np.zeros(len(c) - n_c)]),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options={"time_limit": time_limit_s},
    )
    if result.x is None:
        note = " (HiGHS found nothing in time)"
        return _greedy(weights, cover, count=count, target=target, note=note)
    chosen = np.flatnonzero(result.x[:n_c] > 0.5)
    return Solution(
        chosen=_order_by_gain(weights, cover, chosen),
        objective=_covered(weights, cover, chosen),
        optimal=result.status == 0,
        solver="HiGHS MILP" if result.status == 0 else "HiGHS MILP (time limit)",
    )


def aggregate_demand(
    weights: npt.ArrayLike, cover: sparse.csr_matrix
) -> tuple[FloatArray, sparse.csr_matrix]:
    """Merge demand points covered by exactly the same candidates (summing their weights) and
    drop those no candidate covers: the same optimum with fewer rows."""
    cover = cover.tocsr()
    cover.sum_duplicates()
    cover.sort_indices()
    lengths = np.diff(cover.indptr)
    keep = np.flatnonzero((lengths > 0) & (np.asarray(weights) > 0))
    groups: dict[bytes, int] = {}
    first: list[np.intp] = []  # the first demand point of each group
    group_of = np.empty(keep.size, dtype=np.int64)
    for n, i in enumerate(keep):
        key = cover.indices[cover.indptr[i] : cover.indptr[i + 1]].tobytes()
        g = groups.setdefault(key, len(groups))
        if g == len(first):
            first.append(i)
        group_of[n] = g
    # float64 with weights, though numpy's stubs give bincount intp whatever the weights
    agg_weights: FloatArray = np.bincount(  # type: ignore[assignment]
        group_of, weights=np.asarray(weights)[keep], minlength=len(first)
    )
    return agg_weights, cover[np.asarray(first, dtype=np.int64)]


def solve_min_sites(
    weights: npt.ArrayLike, cover: sparse.csr_matrix, *, target: float, time_limit_s: float = 60.0
) -> Solution:
    """The fewest candidates whose covered weight reaches ``target``."""
    weights = np.asarray(weights, float)
    n_d, n_c = cover.shape
    reachable = _covered(weights, cover, np.arange(n_c))
    if target > reachable + 1e-9:
        raise InvalidInput(
            f"target cannot be reached: every candidate together adds {reachable:.1f} demand, "
            f"{target:.1f} is needed"
        )
    if target <= 0:
        return Solution(np.empty(0, np.int64), 0.0, True, "none needed")
    c = np.concatenate([np.ones(n_c), np.zeros(n_d)])
    rows = sparse.hstack([-cover, sparse.identity(n_d, format="csr")], format="csr")
    total = sparse.csr_matrix(np.concatenate([np.zeros(n_c), weights])[None, :])
    constraints = [LinearConstraint(rows, -np.inf, 0), LinearConstraint(total, target, np.inf)]
    return _solve_milp(c, constraints, weights, cover, time_limit_s, target=target)


def _greedy(
    weights: FloatArray,
    cover: sparse.csr_matrix,
    *,
    count: int | None = None,
    target: float | None = None,
    note: str = "",
) -> Solution:
    """Add the candidate that covers the most remaining weight, until ``count`` or ``target``."""
    remaining = weights.copy()
    cover_t = cover.T.tocsr()
    chosen: list[int] = []
    total = 0.0
    while True:
        if count is not None and len(chosen) >= count:
            break
        if target is not None and total >= target - 1e-9:
            break
        gains = cover_t @ remaining
        best = int(np.argmax(gains))
        if gains[best] <= 0 and count is None:
            break
        chosen.append(best)
        total += gains[best]
        remaining[cover_t[best].indices] = 0.0
    picked = np.asarray(chosen, dtype=np.int64)
    return Solution(picked, _covered(weights, cover, picked), False, "greedy" + note)


def _covered(weights: FloatArray, cover: sparse.csr_matrix, chosen: IntArray) -> float:
    if len(chosen) == 0:
        return 0.0
    hit = np.asarray(cover[:, chosen].sum(axis=1)).ravel() > 0
    return float(weights[hit].sum())


def _order_by_gain(weights: FloatArray, cover: sparse.csr_matrix, chosen: IntArray) -> IntArray:
    """Chosen candidates ordered so each adds the most not already counted (sequentially)."""
    return _attribute(weights, cover, chosen)[0]


def _attribute(
    weights: FloatArray, cover: sparse.csr_matrix, chosen: IntArray
) -> tuple[IntArray, FloatArray]:
    """The chosen candidates in the order :func:`_order_by_gain` gives, and what each adds."""
    remaining = weights.copy()
    cover_t = cover.T.tocsr()
    order: list[int] = []
    added: list[float] = []
    left = list(chosen)
    while left:
        gains = [float(remaining[cover_t[j].indices].sum()) for j in left]
        best = int(np.argmax(gains))
        j = left.pop(best)
        order.append(j)
        added.append(gains[best])
        remaining[cover_t[j].indices] = 0.0
    return np.asarray(order, dtype=np.int64), np.asarray(added)


# -- the city-level questions ------------------------------------------------------------------


def candidate_points(
    city: City,
    *,
    kind: CandidateKind = "cells",
    min_spacing_m: float = 300.0,
    street_step_m: float = 200.0,
) -> tuple[FloatArray, FloatArray]:
    """Candidate sites (metric x, y) at least ``min_spacing_m`` from every existing station."""
    if kind == "cells":
        x, y = city.cell_xy
    elif kind == "streets":
        lines = city.streets.to_crs(city.metric_crs).geometry.array
        lengths = shapely.length(lines)
        steps = np.maximum(np.floor(lengths / street_step_m).astype(int), 0) + 1
        which = np.repeat(np.arange(len(lines)), steps)
        offset = (np.arange(which.size) - np.repeat(np.cumsum(steps) - steps, steps)) * (
            street_step_m
        ) + street_step_m / 2
        pts = shapely.line_interpolate_point(lines[which], np.minimum(offset, lengths[which]))
        x, y = shapely.get_x(pts), shapely.get_y(pts)
    else:
        check_choice("candidates", kind, CANDIDATE_KINDS)
    sx, sy = city.station_xy
    if len(sx) and min_spacing_m > 0:
        d, _ = cKDTree(np.column_stack([sx, sy])).query(np.column_stack([x, y]))
        keep = d >= min_spacing_m
        x, y = x[keep], y[keep]
    return np.asarray(x, float), np.asarray(y, float)


def suggest_sites(
    city: City,
    cov: Coverage,
    *,
    count: int | None = None,
    target_share: float | None = None,
    candidates: CandidateKind = "cells",
    min_spacing_m: float = 300.0,
    method: Method = "milp",
    time_limit_s: float = 60.0,
) -> Suggestion:
    """New sites that cover the most demand the existing stations leave uncovered.

    Give ``count`` (choose that many) or ``target_share`` (the fewest sites that raise covered
    demand to this share of all demand). Distances use the coverage's radius and metric.
    """
    if (count is None) == (target_share is None):
        raise InvalidInput("give either count or target_share")
    candidates = check_choice("candidates", candidates, CANDIDATE_KINDS)  # before any work
    method = check_choice("method", method, METHODS)
    cells = cov.cells
    open_demand = (~cells["covered"].to_numpy()) & (cells["demand"].to_numpy() > 0)
    dem_idx = np.flatnonzero(open_demand)
    weights = cells["demand"].to_numpy(float)[dem_idx]
    cx, cy = city.cell_xy
    dxy = np.column_stack([cx[dem_idx], cy[dem_idx]])
    kx, ky = candidate_points(city, kind=candidates, min_spacing_m=min_spacing_m)
    kxy = np.column_stack([kx, ky])
    if len(kxy) == 0:
        raise InvalidInput("no candidate sites: lower min_spacing_m")
    if cov.metric == "euclidean":
        pairs = cKDTree(kxy).query_ball_point(dxy, r=cov.radius_m) if len(dxy) else []
        d_idx = np.repeat(np.arange(len(pairs)), [len(p) for p in pairs]).astype(np.int64)
        c_idx = np.concatenate([np.asarray(p, np.int64) for p in pairs]) if len(pairs) else d_idx
    else:
        c_idx, d_idx, _ = city.street_network.within(kxy, dxy, radius_m=cov.radius_m)
    cover = cover_matrix(c_idx, d_idx, n_candidates=len(kxy), n_demand=len(dxy))

    total = float(cells["demand"].sum())
    before_cov = float(cells.loc[cells["covered"], "demand"].sum())
    if count is not None:
        solution = solve_mclp(
            weights, cover, count=int(count), time_limit_s=time_limit_s, method=method
        )
    else:
        assert target_share is not None  # one of the two, checked above
        if not 0 < float(target_share) <= 1:
            raise InvalidInput(f"target_share must be in (0, 1], got {target_share!r}")
        need = float(target_share) * total - before_cov
        solution = solve_min_sites(weights, cover, target=need, time_limit_s=time_limit_s)
    order, added = _attribute(weights, cover, solution.chosen)
    sx, sy = kxy[order, 0], kxy[order, 1]
    lon, lat = gcrs.unproject(sx, sy, city.metric_crs)
    where = assign_points(city, lon, lat)
    sites = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "added_demand": added,
            "grid_code": where["grid_code"].to_numpy(),
            "subdistrict_code": where["subdistrict_code"].to_numpy(),
            "street_name": where["street_name"].to_numpy(),
            "street_distance_m": where["street_distance_m"].to_numpy(),
            "lon": lon,
            "lat": lat,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    after_cov = before_cov + solution.objective
    return Suggestion(
        sites=sites,
        before=_share(before_cov, total),
        after=_share(after_cov, total),
        optimal=solution.optimal,
        solver=solution.solver,
        radius_m=cov.radius_m,
        metric=cov.metric,
    )


def suggest_up_to(
    city: City, cov: Coverage, *, count: int, time_limit_s: float = 60.0
) -> Suggestion | None:
    """At most ``count`` sites (fewer when there are fewer candidates); None when there is
    nothing to suggest (``count`` 0, no uncovered demand, or no candidate)."""
    uncovered = int((~cov.cells["covered"] & (cov.cells["demand"] > 0)).sum())
    candidates = len(candidate_points(city)[0])
    if not count or not uncovered or not candidates:
        return None
    return suggest_sites(city, cov, count=min(count, candidates), time_limit_s=time_limit_s)


def _share(covered: float, total: float) -> Summary:
    return {
        "demand": total,
        "demand_covered": covered,
        "demand_covered_share": covered / total if total else None,
    }
