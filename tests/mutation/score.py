"""The mutation score of the last `make mutate` (mutmut 3), per module, with the equivalent
mutants of tests/mutation/equivalent.txt set aside, and every surviving mutant that is not
listed there. Exit status 1 while such a mutant is left in a module of STRICT.

Run from the repository root after `mutmut run`:  .venv/bin/python tests/mutation/score.py
(`--root DIR` for the results of a group run in DIR, see run_group.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("equivalent.txt")
# No surviving mutant may be left here unless it is listed as equivalent (issue 26).
STRICT = ("app.sending.outbox", "app.sending.flush", "app.sending.rows", "app.sending.runner",
          "app.sending.channels.", "app.sending.secrets", "app.sending.accounts",
          "app.messages.sandbox")


def equivalent_mutants() -> dict[str, str]:
    """`mutant name  # why no test can tell it from the original`, one per line."""
    listed: dict[str, str] = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
            name, _, why = line.partition("#")
            if name.strip():
                listed[name.strip()] = why.strip()
    return listed


def module_of(mutant: str) -> str:
    return mutant.rpartition(".")[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=ROOT)
    root = parser.parse_args().root
    metas = sorted((root / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no results: run `make mutate` (or `mutmut run`) first", file=sys.stderr)
        return 2
    listed = equivalent_mutants()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    killed_but_listed: list[str] = []   # an equivalent mutant cannot be killed: a stale line
    for meta in metas:
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = "not run" if code is None else status_by_exit_code[code]
            if status == "survived" and mutant in listed:
                status = "equivalent"
            elif status in ("killed", "timeout") and mutant in listed:
                killed_but_listed.append(mutant)
            counts[module_of(mutant)][status] += 1
            if status == "survived":
                survivors.append(mutant)
    generated = {m for c in metas for m in json.loads(c.read_text())["exit_code_by_key"]}
    mutated = {module_of(m) for m in generated}
    stale = sorted(m for m in set(listed) - generated if module_of(m) in mutated)
    total: Counter[str] = Counter()
    print(f"{'module':<34} {'mutants':>7} {'killed':>6} {'surv.':>5} {'equiv.':>6} "
          f"{'other':>5}  score")
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        print(line(module, c))
    print(line("all", total))
    if stale:
        print(f"\nlisted as equivalent but no longer generated ({len(stale)}): "
              + ", ".join(stale))
    if killed_but_listed:
        print(f"\nlisted as equivalent but killed ({len(killed_but_listed)}): the code around "
              "them changed and mutmut numbered its mutants anew; judge the survivors again: "
              + ", ".join(killed_but_listed))
    if survivors:
        print(f"\nsurviving, not listed as equivalent ({len(survivors)}); "
              "see one with `mutmut show NAME`:")
        for name in survivors:
            print(f"  {name}")
    strict_left = [m for m in survivors if m.startswith(STRICT)]
    return 1 if strict_left else 0


def line(module: str, c: Counter[str]) -> str:
    killed = c["killed"] + c["timeout"]
    judged = killed + c["survived"]
    other = sum(c.values()) - killed - c["survived"] - c["equivalent"]
    score = f"{100 * killed / judged:5.1f} %" if judged else "    -"
    return (f"{module:<34} {sum(c.values()):>7} {killed:>6} {c['survived']:>5} "
            f"{c['equivalent']:>6} {other:>5}  {score}")


if __name__ == "__main__":
    sys.exit(main())
