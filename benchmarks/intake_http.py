"""Throughput of ``POST /api/tips`` (tip intake) against ``GET /api/health`` on the real server.

``/api/health`` does no work beyond routing, dependency injection and JSON: its requests per
second are the ceiling of this server process. A tip adds the validation of its body, a
fingerprint, the replay lookup of its ``Idempotency-Key``, the assignment (grid cell,
subdistrict, nearest street and station) and a store commit that is durable before the answer
(SQLite: WAL with ``synchronous=FULL``, an fsync per tip; PostgreSQL: ``synchronous_commit=on``).
The ratio ``intake_vs_health`` says how much of the server's capacity one tip costs.

For each backend the script starts ``python -m api.cli serve`` (one uvicorn worker, the demo city)
with its working directory in ``--root`` (default: this checkout), so that it measures the code
of that checkout; the tip rate limits are off (``YIZHAN_TIP_RATE_PER_MINUTE=0`` and the per
reporter and per address limits where a checkout has them) and the pack's tips are not imported.
The store is fresh: ``--db sqlite`` a file in a temporary folder; ``--db postgis`` a new schema
in the test database (``YIZHAN_TEST_POSTGIS_URL``, default ``yizhan_test`` over the local
socket, as ``tests/system.sh`` sets up), chosen by ``options=-c search_path=...`` and dropped at
the end. One checked tip is posted first, then ``wrk`` runs a short warm-up of each endpoint and
``--rounds`` alternating runs of health and intake. Every intake request posts a tip at a random
point in the bounding box of the demo city's streets, a random category, and an
``Idempotency-Key`` of its own (so every request stores a tip). Any failed or non-2xx request is
an error. At the end the store must hold at least as many tips as wrk counted answers.

Each endpoint counts with its best round (other load on the machine only ever slows a round).
The output ends, per backend, with ``name=value`` lines, the last ``intake_vs_health=<ratio>``.
Needs ``wrk`` (Debian: ``apt-get install wrk``) and, for PostGIS, psycopg.

    python benchmarks/intake_http.py [--root DIR ...] [--db sqlite|postgis|both] [--duration 10s]
        [--rounds 3] [--connections 32] [--threads 1] [--warmup 2s] [--timeout 10s]

Given ``--root`` more than once, it starts a server for each checkout (each on its own fresh
store) and runs their rounds in turns, so that other load on the machine falls on all of them
alike; each checkout then also gets ``intake_vs_first_root``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nearest_http import (  # noqa: E402
    WRK_DONE_LUA,
    BenchError,
    Load,
    free_port,
    get_json,
    stop,
    tail,
    wrk,
)

HERE = Path(__file__).resolve().parent.parent
POSTGIS_URL = os.environ.get(
    "YIZHAN_TEST_POSTGIS_URL", "postgresql:///yizhan_test?host=/var/run/postgresql"
)
NO_LIMITS = {
    "YIZHAN_TIP_RATE_PER_MINUTE": "0",
    "YIZHAN_TIP_RATE_PER_REPORTER_PER_MINUTE": "0",
    "YIZHAN_TIP_RATE_PER_ADDRESS_PER_MINUTE": "0",
    "YIZHAN_IMPORT_PACK_TIPS": "false",
}

# One Lua state per wrk thread. ``init`` reads the mode from the arguments after ``--``:
# ``health``, or ``intake run minlon minlat maxlon maxlat cat1,cat2,...``. Keys are
# ``<run>-<thread>-<n>``: unique per request. ``done`` prints one machine-readable line.
WRK_LUA = r"""
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local fixed, run, x0, y0, dx, dy, cats, n

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  if args[1] == "health" then
    fixed = wrk.format("GET", "/api/health")
    return
  end
  run = args[2]
  x0, y0 = tonumber(args[3]), tonumber(args[4])
  dx, dy = tonumber(args[5]) - x0, tonumber(args[6]) - y0
  cats = {}
  for code in string.gmatch(args[7], "[^,]+") do
    cats[#cats + 1] = code
  end
  n = 0
end

function request()
  if fixed then
    return fixed
  end
  n = n + 1
  local body = string.format(
    '{"lon":%.7f,"lat":%.7f,"crs":"wgs84","category":"%s",'
      .. '"description":"压测 %d","reporter_id":"bench-%d"}',
    x0 + dx * math.random(), y0 + dy * math.random(), cats[math.random(#cats)], n, tid)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, tid, n),
  }
  return wrk.format("POST", "/api/tips", headers, body)
end

"""


def streets_bbox(root: Path) -> tuple[float, float, float, float]:
    """The bounding box of the demo city's streets (WGS84), read from ``root``'s data pack."""
    streets = json.loads((root / "data" / "demo" / "streets.geojson").read_text("utf-8"))
    xs, ys = [], []

    def walk(coords) -> None:
        if isinstance(coords[0], int | float):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for part in coords:
                walk(part)

    for feature in streets["features"]:
        walk(feature["geometry"]["coordinates"])
    return min(xs), min(ys), max(xs), max(ys)


def category_codes(root: Path) -> list[str]:
    with (root / "data" / "categories.csv").open(encoding="utf-8") as table:
        return [row["code"] for row in csv.DictReader(table)]


@contextlib.contextmanager
def fresh_store(backend: str, workdir: Path):
    """The URL of an empty store of ``backend``; a PostGIS schema is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'intake-{uuid.uuid4().hex[:8]}.db'}"
        return
    try:
        import psycopg
    except ImportError:
        raise BenchError("--db postgis needs psycopg: pip install 'psycopg[binary]'") from None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGIS_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as e:
        reason = " ".join(str(e).split())
        raise BenchError(
            f"PostGIS is not reachable ({reason}); run tests/system.sh or set "
            "YIZHAN_TEST_POSTGIS_URL"
        ) from None
    with admin:
        path = admin.execute("SHOW search_path").fetchone()[0].replace(" ", "")
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in POSTGIS_URL else "?"
            yield f"{POSTGIS_URL}{sep}options={quote(f'-c search_path={schema},{path}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def server(root: Path, db: str, workdir: Path, startup_timeout: float):
    """Run ``python -m api.cli serve`` in ``root`` on a free port; yield its base URL."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    env = {**os.environ, **NO_LIMITS, "PYTHONUNBUFFERED": "1"}
    env.pop("YIZHAN_DATA", None)  # the demo city
    cmd = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--db", db]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise BenchError(f"server exited with code {proc.returncode}:\n" + tail(log_path))
            try:
                health = get_json(f"{base}/api/health")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"server did not answer within {startup_timeout:.0f} s")
            time.sleep(0.2)
        yield base, health, proc.pid
    finally:
        stop(proc)


def post_tip(base: str, body: dict, key: str) -> dict:
    request = urllib.request.Request(
        f"{base}/api/tips",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status != 201:
                raise BenchError(f"POST /api/tips answered {answer.status}")
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:
        raise BenchError(f"POST /api/tips answered {e.code}: {e.read()[:300]!r}") from None


def run_backend(backend: str, roots: list[Path], workdir: Path, args) -> list[dict[str, float]]:
    """Start a server per checkout on a fresh store of ``backend``; load each with health and
    with intake, in turns; print the rounds and return each checkout's figures."""
    script = workdir / "intake.lua"
    script.write_text(WRK_LUA + WRK_DONE_LUA, encoding="utf-8")
    bbox = streets_bbox(roots[0])
    codes = ",".join(category_codes(roots[0]))
    intake_args = [*(f"{v:.7f}" for v in bbox), codes]
    with contextlib.ExitStack() as stack:
        servers = []
        for root in roots:
            db = stack.enter_context(fresh_store(backend, workdir))
            base, health, pid = stack.enter_context(server(root, db, workdir, args.startup_timeout))
            if health.get("store") != backend:
                raise BenchError(f"the server's store is {health.get('store')!r}, not {backend}")
            print(f"{backend}: server pid {pid} in {root}", flush=True)
            # one checked tip first: a wrong answer should fail loudly, not be timed
            cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
            body = {"lon": cx, "lat": cy, "category": codes.split(",")[0], "reporter_id": "probe"}
            first = post_tip(base, body, "probe-key")
            again = post_tip(base, body, "probe-key")
            if not first.get("tip_id") or again.get("tip_id") != first["tip_id"]:
                raise BenchError(f"the probe tip was not stored once: {first} / {again}")
            servers.append((base, pid))

        def load(at: tuple[str, int], endpoint: str, duration: str) -> Load:
            base, pid = at
            if endpoint == "health":
                return wrk(base, script, duration, args, ["health"], pid)
            run = uuid.uuid4().hex[:12]  # keys unique to this run
            return wrk(base, script, duration, args, ["intake", run, *intake_args], pid)

        runs = [{"health": [], "intake": []} for _ in roots]
        if args.warmup:
            for at in servers:
                load(at, "health", args.warmup)
                load(at, "intake", args.warmup)
        # in turns, so that a busy moment of the machine falls on every checkout alike
        for _ in range(args.rounds):
            for at, done in zip(servers, runs, strict=True):
                for endpoint in ("health", "intake"):
                    done[endpoint].append(load(at, endpoint, args.duration))
        stored = [
            get_json(f"{base}/api/tips?limit=1", timeout=60)["numberMatched"] for base, _ in servers
        ]
    figures = []
    for root, done, count in zip(roots, runs, stored, strict=True):
        answered = sum(one.requests for one in done["intake"])
        if count < answered:
            raise BenchError(f"wrk counted {answered:,} stored tips, the store holds {count:,}")
        best = {name: max(loads, key=lambda one: one.rps) for name, loads in done.items()}
        print(f"{backend}, {root}:")
        for name, loads in done.items():
            print(f"  {name:<8} rounds: {', '.join(f'{one.rps:,.0f}' for one in loads)} req/s")
            print(best[name].line(name))
        figures.append(
            {
                "health_rps": best["health"].rps,
                "health_p99_ms": best["health"].p99_ms,
                "intake_tips_per_s": best["intake"].rps,
                "intake_p50_ms": best["intake"].p50_ms,
                "intake_p99_ms": best["intake"].p99_ms,
                "stored_tips": count,
                "intake_vs_health": best["intake"].rps / best["health"].rps,
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--root",
        type=Path,
        action="append",
        help="the checkout to measure (default: this one); repeat it to measure several in turns",
    )
    parser.add_argument("--db", choices=("sqlite", "postgis", "both"), default="both")
    parser.add_argument("--duration", default="10s", help="wrk run length per endpoint")
    parser.add_argument("--warmup", default="2s", help="wrk warm-up per endpoint ('' for none)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating runs per endpoint; the best counts"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk open connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--timeout",
        default="10s",
        help="wrk counts a request slower than this as an error (a durable commit waits for "
        "the disk, which a shared machine sometimes holds for seconds)",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=120.0, help="seconds to wait for /api/health"
    )
    parser.set_defaults(gzip=False)
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root or [HERE]]
    for root in roots:
        if not any((root / "api" / name).is_file() for name in ("cli.py", "cli/__init__.py")):
            sys.exit(f"error: --root {str(root)!r} is not a Yizhan checkout (no api/cli)")
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed; install it (Debian/Ubuntu: apt-get install -y wrk)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("error: terminated"))
    backends = ("sqlite", "postgis") if args.db == "both" else (args.db,)
    print(
        f"wrk: {args.duration} per endpoint after {args.warmup or 'no'} warm-up, "
        f"{args.connections} connections, {args.threads} thread(s); "
        f"{', '.join(str(root) for root in roots)}",
        flush=True,
    )
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="yizhan-intake-") as tmp:
            for backend in backends:
                results[backend] = run_backend(backend, roots, Path(tmp), args)
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted")
    for backend, per_root in results.items():
        for root, figures in zip(roots, per_root, strict=True):
            print(f"root={root}")
            print(f"backend={backend}")
            if root != roots[0]:
                first = per_root[0]["intake_tips_per_s"]
                print(f"intake_vs_first_root={figures['intake_tips_per_s'] / first:.3f}")
            for name, value in figures.items():
                print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")


if __name__ == "__main__":
    main()
