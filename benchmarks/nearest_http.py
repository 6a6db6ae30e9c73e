"""Throughput of ``GET /api/stations/nearest`` against ``GET /api/health`` on the real server.

``/api/health`` does no work beyond routing, dependency injection and JSON: its requests per
second are the ceiling of this server process (uvicorn, FastAPI, middleware, access log). The
nearest query adds the validation of its query parameters, the GCJ-02 inverse (for half the
requests), the projection to metres, the bucket search with the open-now filter and a GeoJSON
answer of three stations. The ratio of the two throughputs says how much of the server's capacity
a nearest query costs beyond the bare framework; the target is ``nearest_vs_health >= 0.7``.

Two cases are run, each against a fresh server:

1. the demo city (68 stations), from ``data/demo``;
2. the same city with 100,000 random stations: a pack written to a temporary folder with the
   demo's grid, subdistricts and streets and a generated ``stations.geojson`` (unique ids, valid
   amenity codes and opening hours, about 90 % ``open``, every point inside a subdistrict).

For each case the script starts ``python -m api.cli serve`` (one uvicorn worker, a SQLite store in
the temporary folder, ``YIZHAN_IMPORT_PACK_TIPS=false``, the access log in a file) and waits until
``/api/health`` answers. It checks one nearest answer, then runs ``wrk`` in a separate process: a
short warm-up of each endpoint, then ``--rounds`` alternating runs of ``/api/health`` and of
``/api/stations/nearest?lon=..&lat=..&k=3&open_now=true`` (a new random point inside the city's
bounding box for every request, ``crs=gcj02`` on half of them). The server is stopped at the end,
also on error or Ctrl-C. Requests per second and the exact p50/p90/p99 latency come from a Lua
``done()`` hook; any failed or non-2xx request is an error.

Each endpoint counts with its best round. Alternating rounds and keeping the best make the ratio
robust to other load on the machine, which only ever slows a round down. Each line also shows the
server's CPU time per request and the share of a core it got (Linux). On a quiet machine the
server uses ~100 % of one core; well below that, the machine is busy and req/s are understated.

wrk runs 1 thread by default. The server is one Python process that needs one full core of the
two. One wrk thread (LuaJIT on epoll) keeps 32 connections busy with about 6 % of a core (the
``wrk`` share on each line), so a second thread cannot raise the load; on the 2-core development
machine ``--threads 2`` gave the same numbers within noise and only adds a thread that competes
with the server for CPU.

The last line is ``nearest_vs_health=<ratio>`` for the 100,000-station case; the line before it
is the same ratio for the demo city. Needs ``wrk`` (Debian: ``apt-get install wrk``).

    python benchmarks/nearest_http.py [--duration 10s] [--rounds 3] [--connections 32]
        [--threads 1] [--warmup 2s] [--stations 100000] [--seed 0] [--gzip]

wrk sends no ``Accept-Encoding`` by default, so the answers go out plain: the ratio measures the
query against HTTP. ``--gzip`` asks for gzip as a phone's browser does; the nearest answer (about
2.7 KB) is then compressed on every request and health (under 1 KB) is not, which lowers the
ratio by the cost of compression.

The whole run takes about two and a half minutes with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

# measure this working tree (the server runs ``python -m api.cli`` from it), not an installed copy
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.pack import AMENITIES, demo_folder  # noqa: E402

DEMO_DIR = demo_folder()
COPIED_LAYERS = ("grid.geojson", "subdistricts.geojson", "streets.geojson")
HOURS = (
    "24/7",
    "Mo-Su 08:00-20:00",
    "Mo-Su 07:00-22:00",
    "Mo-Su 09:00-21:00",
    "Mo-Fr 07:30-21:00; Sa,Su 09:00-18:00",
    "Mo-Su 08:00-12:00,14:00-20:00",
    "Mo-Fr 09:00-17:00; Sa,Su off",
)
STATUS_WEIGHTS = {"open": 0.9, "closed": 0.06, "suspended": 0.04}
OPERATORS = ("江城区总工会", "社区党群服务中心", "顺丰速运", "中国邮政", "美团", "饿了么")
NEAREST_QUERY = "k=3&open_now=true"

# One Lua state per wrk thread. ``init`` reads the mode from the arguments after ``--``:
# ``health``, or ``nearest minlon minlat maxlon maxlat gcj_share query``. ``done``
# (``WRK_DONE_LUA``) prints one machine-readable line (microseconds) that the script parses.
WRK_LUA = r"""
local counter = 0

function setup(thread)  -- runs in the main Lua state: number the threads for their seeds
  counter = counter + 1
  thread:set("tid", counter)
end

local mode, x0, y0, dx, dy, gcj_share, query, fixed

function init(args)
  mode = args[1]
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  if mode == "health" then
    fixed = wrk.format("GET", "/api/health")
  else
    x0, y0 = tonumber(args[2]), tonumber(args[3])
    dx, dy = tonumber(args[4]) - x0, tonumber(args[5]) - y0
    gcj_share = tonumber(args[6])
    query = args[7]
  end
end

function request()
  if fixed then
    return fixed
  end
  local path = string.format("/api/stations/nearest?lon=%.7f&lat=%.7f&%s",
    x0 + dx * math.random(), y0 + dy * math.random(), query)
  if math.random() < gcj_share then
    path = path .. "&crs=gcj02"
  end
  return wrk.format("GET", path)
end

"""

# wrk's summary as one line that ``wrk()`` reads (shared by every wrk script here)
WRK_DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
      .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Load:
    """One wrk run: throughput, latency and (on Linux) the server's CPU time."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    seconds: float
    wrk_cpu_s: float
    cpu_s: float | None = None

    def line(self, label: str) -> str:
        text = (
            f"  {label:<8} {self.rps:7,.0f} req/s  p50 {self.p50_ms:6.2f} ms  "
            f"p90 {self.p90_ms:6.2f} ms  p99 {self.p99_ms:7.2f} ms  ({self.requests:,} requests"
        )
        if self.cpu_s is not None:
            text += (
                f"; server {1e6 * self.cpu_s / self.requests:4.0f} us CPU/request, "
                f"{self.cpu_s / self.seconds:4.0%} of a core"
            )
        return text + f"; wrk {self.wrk_cpu_s / self.seconds:4.0%} of a core)"


class BenchError(RuntimeError):
    """A failure that ends the benchmark with one clear line."""


# -- data pack ---------------------------------------------------------------------------------


def city_outline() -> tuple[shapely.Geometry, tuple[float, float, float, float]]:
    """The union of the demo subdistricts (WGS84) and its bounding box."""
    import geopandas as gpd

    subs = gpd.read_file(DEMO_DIR / "subdistricts.geojson", engine="pyogrio")
    union = shapely.union_all(subs.geometry.array)
    return union, tuple(float(v) for v in union.bounds)


def write_big_pack(folder: Path, n: int, seed: int) -> None:
    """A pack with the demo's grid, subdistricts and streets and ``n`` random valid stations."""
    folder.mkdir(parents=True)
    for name in COPIED_LAYERS:
        shutil.copy(DEMO_DIR / name, folder / name)
    (folder / "pack.toml").write_text(f'name = "江城市（压测 {n} 个驿站）"\n', encoding="utf-8")
    union, (xmin, ymin, xmax, ymax) = city_outline()
    shapely.prepare(union)
    rng = np.random.default_rng(seed)
    lon = np.empty(0)
    lat = np.empty(0)
    while len(lon) < n:  # the city fills about 65 % of its bounding box
        x = np.round(rng.uniform(xmin, xmax, 2 * n), 7)
        y = np.round(rng.uniform(ymin, ymax, 2 * n), 7)
        inside = shapely.contains_xy(union, x, y)
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    lon, lat = lon[:n], lat[:n]

    codes = list(AMENITIES)
    statuses = rng.choice(list(STATUS_WEIGHTS), size=n, p=list(STATUS_WEIGHTS.values()))
    hours = rng.choice(len(HOURS), size=n, p=[0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    n_amenities = rng.integers(2, 9, size=n)
    operators = rng.integers(0, len(OPERATORS), size=n)
    days = rng.integers(0, 180, size=n)
    lines = ['{"type":"FeatureCollection","features":[']
    for i in range(n):
        picked = sorted(rng.choice(len(codes), size=n_amenities[i], replace=False))
        props = {
            "station_id": f"B{i + 1:06d}",
            "name": f"压测第{i + 1}号暖心驿站",
            "address": f"江城区压测路{i + 1}号",
            "amenities": ";".join(codes[j] for j in picked),
            "opening_hours": HOURS[hours[i]],
            "operator": OPERATORS[operators[i]],
            "phone": f"027-8{i:07d}",
            "status": str(statuses[i]),
            "last_confirmed": str(np.datetime64("2026-01-01") + int(days[i])),
        }
        feature = {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
        }
        sep = "," if i < n - 1 else ""
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]}")
    (folder / "stations.geojson").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def server(pack: Path, workdir: Path, startup_timeout: float):
    """Run ``python -m api.cli serve`` on a free port; yield its base URL; always stop it."""
    port = free_port()
    db = workdir / f"b-{port}.db"
    log_path = workdir / f"server-{port}.log"
    env = {**os.environ, "YIZHAN_IMPORT_PACK_TIPS": "false", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data", str(pack), "--db", f"sqlite:///{db}",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        # the access log goes to a file: a pipe nobody reads would block the server
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise BenchError(
                    f"server exited with code {proc.returncode} before answering:\n"
                    + tail(log_path)
                )
            try:
                health = get_json(f"{base}/api/health")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(
                    f"server did not answer {base}/api/health within {startup_timeout:.0f} s:\n"
                    + tail(log_path)
                )
            time.sleep(0.2)
        yield base, health, proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join("    " + line for line in text[-lines:])


# -- load --------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads), or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children_cpu_seconds() -> float:
    """CPU time of the finished child processes (here: the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(base: str, script: Path, duration: str, args, wrk_args: list[str], pid: int) -> Load:
    """Run wrk once against ``base`` (server ``pid``) with the Lua ``script`` and its args."""
    cmd = [
        "wrk", "--latency", "-d", duration, "-c", str(args.connections), "-t", str(args.threads),
        "--timeout", args.timeout,
        *(["-H", "Accept-Encoding: gzip"] if args.gzip else []),
        "-s", str(script), base, "--", *wrk_args,
    ]  # fmt: skip
    cpu0, wrk0 = cpu_seconds(pid), children_cpu_seconds()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu1, wrk1 = cpu_seconds(pid), children_cpu_seconds()
    stats = None
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            stats = {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}
    if done.returncode != 0 or stats is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    failed = {k: stats[k] for k in ("connect", "read", "write", "status", "timeout") if stats[k]}
    if failed:
        raise BenchError(f"wrk saw failed requests {failed} on {' '.join(wrk_args[:1])}")
    return Load(
        rps=stats["requests"] / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1e3,
        p90_ms=stats["p90_us"] / 1e3,
        p99_ms=stats["p99_us"] / 1e3,
        requests=stats["requests"],
        seconds=stats["duration_us"] / 1e6,
        wrk_cpu_s=wrk1 - wrk0,
        cpu_s=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
    )


def run_case(label: str, pack: Path, workdir: Path, bbox, args) -> tuple[int, float]:
    """Start a server on ``pack``, load health then nearest, print both.

    Returns the number of stations the server loaded and the ratio of the throughputs."""
    script = workdir / "bench.lua"
    script.write_text(WRK_LUA + WRK_DONE_LUA, encoding="utf-8")
    nearest_args = ["nearest", *(f"{v:.7f}" for v in bbox), str(args.gcj_share), NEAREST_QUERY]
    t0 = time.perf_counter()
    with server(pack, workdir, args.startup_timeout) as (base, health, pid):
        started = time.perf_counter() - t0
        stations = int(health["layers"]["stations"])
        print(
            f"{label}: {stations:,} stations; server pid {pid} answered after {started:.1f} s",
            flush=True,
        )
        # one checked request first: a wrong answer should fail loudly, not be timed
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        probe = get_json(f"{base}/api/stations/nearest?lon={cx}&lat={cy}&{NEAREST_QUERY}", 30)
        if not probe.get("features"):
            raise BenchError(f"nearest answered no station at the city centre: {probe}")
        if args.warmup:
            wrk(base, script, args.warmup, args, ["health"], pid)
            wrk(base, script, args.warmup, args, nearest_args, pid)
        runs: dict[str, list[Load]] = {"health": [], "nearest": []}
        for _ in range(args.rounds):  # alternate, so a busy moment hits both endpoints alike
            runs["health"].append(wrk(base, script, args.duration, args, ["health"], pid))
            runs["nearest"].append(wrk(base, script, args.duration, args, nearest_args, pid))
    best = {}
    for name, loads in runs.items():
        best[name] = max(loads, key=lambda load: load.rps)
        rounds = ", ".join(f"{load.rps:,.0f}" for load in loads)
        print(f"  {name:<8} rounds: {rounds} req/s; best:")
        print(best[name].line(name))
    ratio = best["nearest"].rps / best["health"].rps
    print(f"  ratio    {ratio:.3f} (best round of each)", flush=True)
    return stations, ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", default="10s", help="wrk run length per endpoint")
    parser.add_argument("--warmup", default="2s", help="wrk warm-up per endpoint ('' for none)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating runs per endpoint; the best counts"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk open connections")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads; 1 leaves the other core to the server"
    )
    parser.add_argument(
        "--timeout", default="2s", help="wrk counts a request slower than this as an error"
    )
    parser.add_argument("--stations", type=int, default=100_000, help="stations in the big pack")
    parser.add_argument("--gcj-share", type=float, default=0.5, help="share of crs=gcj02 queries")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated stations")
    parser.add_argument(
        "--gzip",
        action="store_true",
        help="ask for gzip as a browser does (answers of 1 KB or more come compressed)",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=120.0, help="seconds to wait for /api/health"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "error: wrk is not installed; install it (Debian/Ubuntu: apt-get install -y wrk, "
            "macOS: brew install wrk) and run again"
        )
    # a plain kill must stop the server too: SIGTERM becomes SystemExit, which runs the cleanup
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("error: terminated"))
    _, bbox = city_outline()
    try:
        with tempfile.TemporaryDirectory(prefix="yizhan-bench-") as tmp:
            workdir = Path(tmp)
            print(
                f"wrk: {args.duration} per endpoint after {args.warmup or 'no'} warm-up, "
                f"{args.connections} connections, {args.threads} thread(s); nearest: "
                f"{NEAREST_QUERY}, random point in bbox "
                f"{', '.join(f'{v:.4f}' for v in bbox)}, {args.gcj_share:.0%} crs=gcj02"
                + ("; Accept-Encoding: gzip" if args.gzip else ""),
                flush=True,
            )
            demo_n, demo_ratio = run_case("demo city", DEMO_DIR, workdir, bbox, args)
            big = workdir / "pack"
            t0 = time.perf_counter()
            write_big_pack(big, args.stations, args.seed)
            print(
                f"wrote a pack with {args.stations:,} stations in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            _, big_ratio = run_case(f"{args.stations:,} stations", big, workdir, bbox, args)
    except BenchError as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted")
    print(f"nearest_vs_health_demo_{demo_n}_stations={demo_ratio:.3f}")
    print(f"nearest_vs_health={big_ratio:.3f}")


if __name__ == "__main__":
    main()
