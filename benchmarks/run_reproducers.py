"""Run every shrunk reproducer of a `convt-oracle explain --json` file, each in a fresh interpreter.

    .venv/bin/python benchmarks/run_reproducers.py EXPLAIN.json [--python PYTHON]

A reproducer is a standalone script (numpy and the framework; convt-oracle writes it for the group's minimal
case): in the environment the run was made in it must fail, with an AssertionError (a wrong value) or the
framework's exception (a `raised` group); on a version where the bug is fixed it passes. `--python`: the
interpreter to run them under (default: the one each reproducer names, "run it with ...", else this one).
Prints one line per group and the counts; exits 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("explain")
    parser.add_argument("--python")
    args = parser.parse_args(argv)
    if args.python is not None:
        args.python = str(Path(args.python).absolute()) if Path(args.python).exists() else args.python
    groups = json.loads(Path(args.explain).read_text())["groups"]
    tally = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        for number, group in enumerate(groups, 1):
            if not group.get("snippet"):
                tally["not shrunk"] += 1
                continue
            named = re.search(r"^# run it with (\S+),", group["snippet"], re.M)
            python = args.python or (named.group(1) if named else sys.executable)
            script = Path(folder) / f"repro_{number}.py"
            script.write_text(group["snippet"])
            done = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=600, cwd=folder)
            last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            verdict = "passes" if done.returncode == 0 else ("fails: wrong values" if "AssertionError" in last
                                                             else f"fails: exit {done.returncode}")
            tally[verdict] += 1
            diagnosis = (group.get("diagnosis") or {}).get("name", "-")
            print(f"{number}. {group['target']} {group['check']} {group['outcome']} {diagnosis} "
                  f"({group['minimal_case']['id'] if group.get('minimal_case') else '-'}): {verdict}: {last[:160]}")
    print(", ".join(f"{verdict} {count}" for verdict, count in tally.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
