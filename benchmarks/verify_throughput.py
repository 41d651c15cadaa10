"""Throughput of ``fleetproof verify`` end to end: CSV in, verdicts out, through the real CLI.

Generates a synthetic fleet — landmarks and targets at random land positions (not in Antarctica),
RTTs from distance at a realistic 45–70 km per ms of RTT plus access delays and
jitter (never below the physical minimum) — writes the four CSV files, then runs
``python -m fleetproof verify`` in a subprocess and reports targets per second and
the child's peak memory. The baseline, measured in the same run, is reading the
same RTT file with Python's ``csv`` module alone.

    PYTHONPATH=src python benchmarks/verify_throughput.py --targets 20000 --landmarks 100
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fleetproof.geo.sphere import distance_km
from fleetproof.geodata import load_countries


def land_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Uniform over land cells but Antarctica (a fifth to a third of all land cells; no fleet is there)."""
    c = load_countries()
    land = np.flatnonzero(c.cell_land_fraction > 0.9)
    land = land[c.cell_country[land] != c.codes.index("AQ")]
    cells = rng.choice(land, n)
    lat, lon = c.grid.center_latlon(cells)
    res = c.grid.resolution_deg
    lat = lat + rng.uniform(-res / 2, res / 2, n)
    lon = lon + rng.uniform(-res / 2, res / 2, n)
    codes = [c.codes[k] for k in c.cell_country[cells]]
    return lat, lon, codes


def generate(folder: Path, n_targets: int, n_landmarks: int, country_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    llat, llon, lcc = land_points(rng, n_landmarks)
    tlat, tlon, tcc = land_points(rng, n_targets)
    with open(folder / "landmarks.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "lat", "lon", "country"])
        for i in range(n_landmarks):
            w.writerow([f"L{i}", round(llat[i], 5), round(llon[i], 5), lcc[i]])
    access_l = rng.exponential(0.5, n_landmarks)
    d_ll = distance_km(llat[:, None], llon[:, None], llat[None, :], llon[None, :])
    speed_ll = rng.uniform(45, 70, d_ll.shape)
    rtt_ll = d_ll / speed_ll + access_l[:, None] + access_l[None, :] + rng.exponential(1.0, d_ll.shape)
    with open(folder / "mesh.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["a", "b", "rtt_ms"])
        for i in range(n_landmarks):
            for j in range(i + 1, n_landmarks):
                w.writerow([f"L{i}", f"L{j}", f"{rtt_ll[i, j]:.3f}"])
    with open(folder / "rtts.csv", "w") as fh:
        fh.write("target,landmark,rtt_ms\n")
        names = np.array([f"L{i}" for i in range(n_landmarks)])
        for lo in range(0, n_targets, 1000):
            hi = min(lo + 1000, n_targets)
            d = distance_km(tlat[lo:hi, None], tlon[lo:hi, None], llat[None, :], llon[None, :])
            access_t = rng.exponential(0.5, (hi - lo, 1))
            r = (
                d / rng.uniform(45, 70, d.shape)
                + access_t
                + access_l[None, :]
                + rng.exponential(1.0, d.shape)
            )
            lines = [
                f"t{lo + i},{names[j]},{r[i, j]:.3f}\n" for i in range(hi - lo) for j in range(n_landmarks)
            ]
            fh.write("".join(lines))
    with open(folder / "claims.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["claim", "target", "lat", "lon", "country"])
        for i in range(n_targets):
            u = rng.random()
            if u < country_share:
                w.writerow([f"c{i}", f"t{i}", "", "", tcc[i]])
            elif u < country_share + 0.1:  # a false claim: another target's position
                j = int(rng.integers(n_targets))
                w.writerow([f"c{i}", f"t{i}", round(tlat[j], 5), round(tlon[j], 5), ""])
            else:
                w.writerow([f"c{i}", f"t{i}", round(tlat[i], 5), round(tlon[i], 5), ""])


def csv_baseline(path: Path) -> float:
    """Seconds for Python's csv module just to read the RTT file: the same-run yardstick."""
    t0 = time.perf_counter()
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [(a, b, float(c)) for a, b, c in reader]
    assert rows
    return time.perf_counter() - t0


def run_cli(
    folder: Path, claims: bool, workers: int | None, src: Path | None = None
) -> tuple[float, float, float, str]:
    """Run the CLI: wall seconds, CPU seconds of the process tree, peak total RSS (MB), stdout."""
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    # The real entry point, with verify registered whether or not cli.py lists it yet.
    code = (
        "import sys, fleetproof.cli as c; c.COMMAND_MODULES = tuple(dict.fromkeys("
        "c.COMMAND_MODULES + ('fleetproof.batch.cli',))); sys.exit(c.main(sys.argv[1:]))"
    )
    args = [
        sys.executable,
        "-c",
        code,
        "verify",
        "--landmarks",
        str(folder / "landmarks.csv"),
        "--rtts",
        str(folder / "rtts.csv"),
        "--mesh",
        str(folder / "mesh.csv"),
        "--out",
        str(folder / "out.jsonl"),
    ]
    if claims:
        args += ["--claims", str(folder / "claims.csv")]
    if workers is not None:
        args += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(src or Path(__file__).resolve().parents[1] / "src")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            total = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak / 2**20, stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=20000)
    ap.add_argument("--landmarks", type=int, default=100)
    ap.add_argument(
        "--country-share", type=float, default=0.2, help="share of claims that are country claims"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    ap.add_argument("--workers", type=int, help="passed to verify (default: its own default, the CPU count)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="another src/ folder (e.g. of an older commit) timed in the same run, alternating",
    )
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, a.targets, a.landmarks, a.country_share, a.seed)
        base = csv_baseline(folder / "rtts.csv")
        rows = a.targets * a.landmarks
        print(f"{a.targets:,} targets x {a.landmarks} landmarks = {rows:,} RTT rows")
        print(f"baseline: csv module reads the RTT file in {base:.2f} s ({a.targets / base:,.0f} targets/s)")
        trees = [("this tree", None)] + ([("baseline tree", a.baseline_src)] if a.baseline_src else [])
        for claims in (False, True):
            what = f"with claims ({a.country_share:.0%} country)" if claims else "estimates only (no claims)"
            for _ in range(a.repeat):
                for name, src in trees:
                    load = os.getloadavg()[0]
                    wall, cpu, peak_mb, stdout = run_cli(folder, claims, a.workers, src)
                    print(
                        f"verify {what}, {name} (load {load:.1f}): {wall:.2f} s wall, "
                        f"{a.targets / wall:,.0f} targets/s, peak RSS (all processes) {peak_mb:,.0f} MB, "
                        f"{wall / base:.2f}x the csv-read baseline"
                    )
                    rate = a.targets / cpu
                    print(f"  CPU {cpu:.2f} s over the process tree: {rate:,.0f} targets per CPU-second")
                    print(
                        "  "
                        + "\n  ".join(
                            line for line in stdout.splitlines() if "time:" in line or "verdicts" in line
                        )
                    )
            if a.baseline_src:  # the two trees must agree, byte for byte
                outs = []
                for k, (_, src) in enumerate(trees):
                    run_cli(folder, claims, a.workers, src)
                    outs.append(folder / f"out-{k}.jsonl")
                    os.replace(folder / "out.jsonl", outs[-1])
                same = outs[0].read_bytes() == outs[1].read_bytes()
                print(f"  results identical to the baseline tree: {same}")


if __name__ == "__main__":
    main()
