"""The rates (``GET /api/metrics``) over 1,000,000 cases: aggregated in the store's SQL, against
the same rows loaded into pandas and grouped there.

A big city's year of cases is made up over the demo city's grid and put straight into a fresh
store with ``Store.import_tips`` (a tip with its ``case`` columns), 50,000 at a time: not timed,
with a progress line. Reports fall over the 365 days before the run, from couriers, the 12345
hotline and grid workers, in every category, a few outside every subdistrict. Each case lives
the loop's history up to now: rejected (5 %), or registered and dispatched within minutes to the
unit the pack routes it to, with a handling deadline from the pack's SLA table; handled in a
time whose median is about half the limit (so a quarter are late), sent back for rework now and
then (8 %, one to three times), closed a few hours after the last handling; some suspended
(2 %); reporters answer for about half the closed cases (yes, no or unknown). Cases whose next
event is still to come stay open, so the recent ones are registered, dispatched (some overdue)
or handled. No handling deadline falls in the six hours after the data are made, so that the
two ways of counting see the same overdue cases.

Then, in this process, best of ``--repeat``:

(a) ``GET /api/metrics?group_by=subdistrict`` through the app (FastAPI's ``TestClient``) with a
    real admin token: the counts and medians grouped in SQL, the rates and names by the service;
(b) the baseline: the same rows (the cases joined with their tips) read from the store into
    pandas (``pandas.read_sql``), the times parsed, and the same numbers computed by ``groupby``.

Both answers must agree (counts exactly, rates and medians to 1e-9). It also times one metrics
request for the demo city (its 1,200 tips, in a fresh SQLite store). The output ends, per
backend, with ``name=value`` lines, the last ``metrics_vs_pandas=<ratio>`` (pandas time ÷
metrics time, higher is better); with ``--db both`` a final ``metrics_vs_pandas`` is the lower
of the two.

``--db sqlite`` (the default) uses a file in a temporary folder; ``--db postgis`` a new schema
in the test database (``YIZHAN_TEST_POSTGIS_URL``, as ``benchmarks/intake_http.py``), dropped at
the end; ``--db both`` runs the two; any other value is the URL of an empty store to fill.

    python benchmarks/metrics.py [--cases 1000000] [--db sqlite|postgis|both|URL] [--repeat 3]
        [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this working tree

from intake_http import fresh_store  # noqa: E402
from nearest_http import BenchError  # noqa: E402

from api.app import create_app  # noqa: E402
from api.services.metrics import RATES  # noqa: E402
from api.services.staff import add_staff  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.stores import METRIC_COUNTS, TIP_COLUMNS, open_store  # noqa: E402
from geo.city import City, load_city  # noqa: E402
from geo.hours import CITY_TZ  # noqa: E402
from geo.units import route_unit  # noqa: E402

BATCH = 50_000
US = 1_000_000  # microseconds per second
SOURCES = {"courier": 0.60, "hotline_12345": 0.28, "grid_worker": 0.12}
CATEGORY_WEIGHTS = {"01": 25, "02": 8, "03": 7, "04": 3, "05": 20, "06": 7, "11": 15, "12": 10}
CASE_TIMES = ("registered_at", "dispatched_at", "handled_at", "closed_at", "updated_at")
GUARD_US = 6 * 3600 * US  # no handling deadline falls this soon after the data are made


def synthetic_cases(city: City, n: int, seed: int, now: dt.datetime) -> pd.DataFrame:
    """``n`` tips with their cases' columns (times as ISO 8601 text, None for none)."""
    rng = np.random.default_rng(seed)
    now_us = int(now.timestamp() * US)

    def lasting(median_s, sigma: float) -> np.ndarray:
        """Log-normal durations in microseconds around ``median_s`` seconds."""
        return (np.asarray(median_s) * np.exp(sigma * rng.standard_normal(n)) * US).astype(np.int64)

    # where and what: cells by popularity, 1 % outside every cell
    cells = city.grid.reset_index(drop=True)
    points = cells.geometry.representative_point()
    popularity = rng.pareto(1.5, len(cells)) + 1
    cell = rng.choice(len(cells), n, p=popularity / popularity.sum())
    outside = rng.random(n) < 0.01
    grid_code = cells["grid_code"].to_numpy(dtype=object)[cell]
    subdistrict = cells["subdistrict_code"].to_numpy(dtype=object)[cell]
    grid_code[outside] = None
    subdistrict[outside] = None
    xmin, ymin, xmax, ymax = city.grid.total_bounds
    lon = points.x.to_numpy()[cell] + rng.normal(0, 0.0004, n)
    lat = points.y.to_numpy()[cell] + rng.normal(0, 0.0004, n)
    lon[outside] = xmax + rng.uniform(0.001, 0.02, outside.sum())
    lat[outside] = rng.uniform(ymin, ymax, outside.sum())
    codes = [c for c in city.categories["code"].astype(str) if c in CATEGORY_WEIGHTS]
    weights = np.array([CATEGORY_WEIGHTS[c] for c in codes], dtype=float)
    category = np.array(codes, dtype=object)[rng.choice(len(codes), n, p=weights / weights.sum())]
    source = np.array(list(SOURCES), dtype=object)[
        rng.choice(len(SOURCES), n, p=list(SOURCES.values()))
    ]
    urgent = rng.random(n) < 0.08

    # the history, in microseconds since the epoch
    reported = now_us - rng.integers(0, 365 * 86400 * US, n)
    registered = reported + lasting(15 * 60, 1.0)
    dispatched = registered + lasting(20 * 60, 1.0)
    limit_min = np.zeros(n)
    for code in codes:
        for is_urgent, urgency in ((False, "normal"), (True, "urgent")):
            minutes = city.sla.limit(step="handle", category=code, urgency=urgency).minutes
            limit_min[(category == code) & (urgent == is_urgent)] = minutes
    # urgent limits run on the calendar; a normal one's working minutes (450 a working day)
    # stretch over about 7/5 as many calendar days
    calendar_s = np.where(urgent, limit_min * 60, limit_min / 450 * 86400 * 7 / 5)
    handle_due = dispatched + (calendar_s * US).astype(np.int64)
    soon = (handle_due > now_us) & (handle_due < now_us + GUARD_US)
    handle_due[soon] = now_us + GUARD_US
    first_handled = dispatched + lasting(calendar_s * 0.55, 0.9)
    reworks = np.where(rng.random(n) < 0.08, rng.choice([1, 2, 3], n, p=[0.75, 0.2, 0.05]), 0)
    handled = first_handled + reworks * lasting(10 * 3600, 0.8)
    closed = handled + lasting(2 * 3600, 1.0)

    rejected = rng.random(n) < 0.05
    suspended = ~rejected & (rng.random(n) < 0.02) & (dispatched <= now_us)
    state = np.full(n, "closed", dtype=object)
    state[closed > now_us] = "handled"
    state[handled > now_us] = "dispatched"
    state[dispatched > now_us] = "registered"
    state[registered > now_us] = "reported"
    state[suspended] = "suspended"
    state[rejected] = "rejected"

    def when(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """ISO 8601 text at +08:00 (city time, as the store writes it), None where not kept."""
        local = (np.where(keep, values, 0) + 8 * 3600 * US).astype("datetime64[us]")
        text = np.char.add(np.datetime_as_string(local, unit="us"), "+08:00").astype(object)
        text[~keep] = None
        return text

    is_ = {s: state == s for s in ("reported", "registered", "dispatched", "handled", "closed")}
    was_registered = ~rejected & ~is_["reported"]
    was_dispatched = was_registered & ~is_["registered"]
    was_handled = is_["handled"] | is_["closed"]
    answered = is_["closed"] & (rng.random(n) < 0.55)
    satisfaction = np.array(["yes", "no", "unknown"], dtype=object)[
        rng.choice(3, n, p=[0.82, 0.11, 0.07])
    ]
    satisfaction[~answered] = None
    routes = {
        (c, s): route_unit(city.units, category=c, subdistrict_code=s) or "U01"
        for c in codes
        for s in [*city.subdistricts["subdistrict_code"].astype(str), None]
    }
    unit = np.array([routes[k] for k in zip(category, subdistrict, strict=True)], dtype=object)
    unit[~was_registered] = None
    step = np.full(n, None, dtype=object)
    due = np.zeros(n, dtype=np.int64)
    for name, step_name, due_us in (
        ("reported", "register", reported + 30 * 60 * US),
        ("registered", "dispatch", registered + 30 * 60 * US),
        ("dispatched", "handle", handle_due),
        ("handled", "verify", handled + 60 * 60 * US),
    ):
        step[is_[name]] = step_name
        due[is_[name]] = due_us[is_[name]]
    last = np.select(
        [is_["closed"], was_handled, was_dispatched, was_registered],
        [closed, handled, dispatched, registered],
        reported,
    )
    return pd.DataFrame(
        {
            "tip_id": [f"M{i:07d}" for i in range(n)],
            "reported_at": when(reported, np.ones(n, dtype=bool)),
            "category": category,
            "description": "",
            "reporter_id": "r",
            "status": np.where(np.isin(state, ["closed", "rejected"]), "closed", "open"),
            "lon": lon,
            "lat": lat,
            "grid_code": grid_code,
            "subdistrict_code": subdistrict,
            "outside_city": outside,
            "state": state,
            "urgency": np.where(urgent, "urgent", "normal"),
            "source": source,
            "unit_id": unit,
            "step": step,
            "due_at": when(due, pd.notna(step)),
            "handle_due_at": when(handle_due, was_dispatched),
            "suspended_from": np.where(suspended, "dispatched", None),
            "rework_count": np.where(was_handled, reworks, 0),
            "satisfaction": satisfaction,
            "registered_at": when(registered, was_registered),
            "dispatched_at": when(dispatched, was_dispatched),
            "handled_at": when(handled, was_handled),
            "closed_at": when(closed, is_["closed"]),
            "updated_at": when(last, np.ones(n, dtype=bool)),
        }
    )


CASE_COLUMNS = (
    "state",
    "urgency",
    "source",
    "unit_id",
    "step",
    "due_at",
    "handle_due_at",
    "suspended_from",
    "rework_count",
    "satisfaction",
    *CASE_TIMES,
)


def store_cases(store, frame: pd.DataFrame) -> None:
    """Put the tips and their cases in the store, ``BATCH`` at a time, with a progress line."""
    t0 = time.perf_counter()
    for start in range(0, len(frame), BATCH):
        part = frame.iloc[start : start + BATCH]
        plain = part.astype(object).where(part.notna(), None)
        tips = plain[[c for c in TIP_COLUMNS if c in plain.columns]].to_dict(orient="records")
        cases = plain[list(CASE_COLUMNS)].to_dict(orient="records")
        for tip, case in zip(tips, cases, strict=True):
            case["rework_count"] = int(case["rework_count"])
            tip["case"] = case
        store.import_tips(tips)
        done = start + len(part)
        rate = done / (time.perf_counter() - t0)
        print(f"\r  stored {done:,} of {len(frame):,} cases ({rate:,.0f}/s)", end="", flush=True)
    print(flush=True)


BASELINE_SQL = (
    "SELECT t.reported_at, t.subdistrict_code, c.state, c.registered_at, c.handled_at, "
    "c.handle_due_at, c.rework_count, c.satisfaction, c.closed_at "
    "FROM cases c JOIN tips t ON t.tip_id = c.tip_id"
)
BASELINE_TIMES = ("reported_at", "registered_at", "handled_at", "handle_due_at", "closed_at")


def pandas_metrics(store, now: dt.datetime) -> dict[str | None, dict]:
    """The baseline: the rows read into pandas and grouped there, per subdistrict and for the
    city (key ``city``), with the same counts, rates and medians as the API."""
    frame = pd.read_sql_query(BASELINE_SQL, store.engine)
    for column in BASELINE_TIMES:  # SQLite gives text, PostgreSQL datetimes
        frame[column] = pd.to_datetime(frame[column], format="ISO8601", utc=True)
    closed = frame["state"] == "closed"
    passed = ~frame["state"].isin(["closed", "suspended", "rejected"]) & (
        frame["handle_due_at"] < pd.Timestamp(now)
    )
    flags = pd.DataFrame(
        {
            "key": frame["subdistrict_code"],
            "cases": 1,
            "registered": frame["registered_at"].notna(),
            "closed": closed,
            "closed_on_time": closed & (frame["handled_at"] <= frame["handle_due_at"]),
            "due": frame["handle_due_at"].notna() & (closed | passed),
            "reworked": frame["rework_count"] > 0,
            "handled": frame["handled_at"].notna(),
            "satisfied": frame["satisfaction"] == "yes",
            "rated": frame["satisfaction"].isin(["yes", "no"]),
            "hours": ((frame["closed_at"] - frame["reported_at"]).dt.total_seconds() / 3600).where(
                closed
            ),
        }
    )
    grouped = flags.groupby("key", dropna=False)
    counts = grouped[list(METRIC_COUNTS)].sum()
    medians = grouped["hours"].median()
    out: dict[str | None, dict] = {}
    for key in counts.index:
        row = {name: int(counts.at[key, name]) for name in METRIC_COUNTS}
        out[None if pd.isna(key) else key] = _with_rates(row, medians.at[key])
    city = {name: int(flags[name].sum()) for name in METRIC_COUNTS}
    out["city"] = _with_rates(city, flags["hours"].median())
    return out


def _with_rates(row: dict, median: float) -> dict:
    for rate, (part, whole) in RATES.items():
        row[rate] = row[part] / row[whole] if row[whole] else None
    row["median_hours_to_close"] = None if pd.isna(median) else float(median)
    return row


def same(api: dict, ours: dict) -> None:
    """The API's answer and the baseline's agree, or :class:`BenchError` says where."""
    got = {g["key"]: g for g in api["groups"]} | {"city": api["city"]}
    if set(got) != set(ours):
        raise BenchError(f"groups differ: {sorted(map(str, got))} vs {sorted(map(str, ours))}")
    for key, expected in ours.items():
        for name, value in expected.items():
            mine = got[key][name]
            if value is None or mine is None or isinstance(value, int):
                ok = mine == value
            else:
                ok = math.isclose(mine, value, rel_tol=1e-9, abs_tol=1e-9)
            if not ok:
                raise BenchError(f"{key} {name}: metrics {mine!r}, pandas {value!r}")


def best_of(repeat: int, run) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = run()
        times.append(time.perf_counter() - t0)
    return min(times), answer


def run_backend(label: str, url: str, city: City, args) -> dict[str, float]:
    now = dt.datetime.now(CITY_TZ)
    t0 = time.perf_counter()
    frame = synthetic_cases(city, args.cases, args.seed, now)
    made_s = time.perf_counter() - t0
    print(f"{label}: {len(frame):,} cases made in {made_s:.1f} s; storing (not timed)", flush=True)
    store = open_store(url)
    try:
        t0 = time.perf_counter()
        store_cases(store, frame)
        stored_s = time.perf_counter() - t0
        counts = frame["state"].value_counts().to_dict()
        print(f"  states: {', '.join(f'{k} {v:,}' for k, v in sorted(counts.items()))}")
        del frame
        _, token = add_staff(city, store, "benchmark", role="admin")
        settings = Settings(db=url, import_pack_tips=False)
        with TestClient(create_app(settings, city=city)) as client:
            headers = {"Authorization": f"Bearer {token}"}

            def ask() -> dict:
                r = client.get("/api/metrics?group_by=subdistrict", headers=headers)
                if r.status_code != 200:
                    raise BenchError(f"/api/metrics answered {r.status_code}: {r.text[:300]}")
                return r.json()

            ask()  # warm: the first request compiles the statement and fills the caches
            metrics_s, api = best_of(args.repeat, ask)
            pandas_s, ours = best_of(args.repeat, lambda: pandas_metrics(store, now))
        same(api, ours)
    finally:
        store.close()
    city_row = api["city"]
    print(
        f"  city: {city_row['cases']:,} cases, closed_rate {city_row['closed_rate']:.3f}, "
        f"on_time_rate {city_row['on_time_rate']:.3f}, rework_rate "
        f"{city_row['rework_rate']:.3f}, satisfied_rate {city_row['satisfied_rate']:.3f}, "
        f"median {city_row['median_hours_to_close']:.2f} h"
    )
    return {
        "cases": args.cases,
        "stored_s": stored_s,
        "metrics_request_ms": metrics_s * 1000,
        "pandas_baseline_ms": pandas_s * 1000,
        "metrics_vs_pandas": pandas_s / metrics_s,
    }


def demo_city_ms(city: City, workdir: Path) -> float:
    """One metrics request for the demo city: its tips in a fresh SQLite store."""
    url = f"sqlite:///{workdir / 'demo.db'}"
    with TestClient(create_app(Settings(db=url), city=city)) as client:
        _, token = add_staff(city, client.app.state.store, "benchmark", role="admin")
        headers = {"Authorization": f"Bearer {token}"}
        client.get("/api/metrics?group_by=subdistrict", headers=headers).raise_for_status()
        t0 = time.perf_counter()
        r = client.get("/api/metrics?group_by=subdistrict", headers=headers)
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
    return elapsed * 1000


@contextlib.contextmanager
def store_url(db: str, workdir: Path):
    if db == "sqlite":
        yield f"sqlite:///{workdir / 'metrics.db'}"
    elif db == "postgis":
        with fresh_store("postgis", workdir) as url:
            yield url
    else:
        yield db


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgis, both, or a store URL")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best counts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.cases < 1:
        sys.exit("error: --cases must be at least 1")
    city = load_city().warm()
    backends = ("sqlite", "postgis") if args.db == "both" else (args.db,)
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="yizhan-metrics-") as tmp:
            workdir = Path(tmp)
            demo_ms = demo_city_ms(city, workdir)
            for db in backends:
                with store_url(db, workdir) as url:
                    results[db] = run_backend(db, url, city, args)
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    print(f"demo_city_metrics_ms={demo_ms:.1f}")
    for db, figures in results.items():
        print(f"backend={db if db in ('sqlite', 'postgis') else 'url'}")
        for name, value in figures.items():
            print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")
    if len(results) > 1:
        print(f"metrics_vs_pandas={min(f['metrics_vs_pandas'] for f in results.values()):.3f}")


if __name__ == "__main__":
    main()
