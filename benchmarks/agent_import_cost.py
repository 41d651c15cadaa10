"""What each import of the agent's run path adds to resident memory, one step at a time.

Each step is imported in one fresh interpreter, in order, and the process's VmRSS is read from
/proc/self/status after it: the figure for a step is what it adds on top of every step before
it (a module a later step also needs is charged to the first step that imports it). The steps
are the daemon's own imports, then what an exporter, a server client and the prober add. The
last lines say whether pydantic or numpy got loaded. Linux only.

    PYTHONPATH=src python benchmarks/agent_import_cost.py
    PYTHONPATH=src python benchmarks/agent_import_cost.py pydantic fleetproof.protocol.wire
"""

from __future__ import annotations

import json
import subprocess
import sys

STEPS = [
    "logging",
    "sqlite3",
    "json",
    "argparse",
    "psutil",
    "hashlib",
    "fleetproof.agent.config",
    "fleetproof.agent.runner",
    "fleetproof.agent.daemon",
    "fleetproof.agent.probing",
    "fleetproof.agent.export.http",
    "fleetproof.protocol.curve25519",
    "fleetproof.agent.client",
    "fleetproof.probe.prober",
]

_CHILD = r"""
import json, sys

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")

rows = [["(start: interpreter and json)", round(rss_mb(), 1), 0.0, 0]]
for name in sys.argv[1:]:
    before, known = rss_mb(), set(sys.modules)
    __import__(name)
    after = rss_mb()
    rows.append([name, round(after, 1), round(after - before, 1), len(set(sys.modules) - known)])
loaded = {m.split(".")[0] for m in sys.modules}
print(json.dumps({"rows": rows, "pydantic": "pydantic" in loaded, "numpy": "numpy" in loaded}))
"""


def main() -> None:
    steps = sys.argv[1:] or STEPS
    done = subprocess.run([sys.executable, "-c", _CHILD, *steps], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"an import failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    print(f"{'step':<52} {'RSS':>8} {'added':>8} {'modules':>8}")
    for name, rss, added, modules in result["rows"]:
        print(f"{name:<52} {rss:>6.1f} MB {added:>+6.1f} MB {modules:>8}")
    print(f"pydantic loaded: {result['pydantic']}; numpy loaded: {result['numpy']}")


if __name__ == "__main__":
    main()
