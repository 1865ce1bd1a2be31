"""Runaway templates (issue 18): each case renders in a fresh process, through the composer's own
render() and the sandbox's counted budget (loop iterations across nesting, capped output, bounded
`*` and `**`, recursion); prints how long it took to stop (or finish), the process's peak memory
above what it held before rendering, and what the coordinator is told.

Run from the repo root:
    .venv/bin/python tests/benchmarks/bench_template_budget.py
Targets: every case under 3 s and under 300 MB."""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_S, TARGET_MB = 3.0, 300.0

CASES = {
    "three-deep loop, 1,000 each":
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x"
        "{% endfor %}{% endfor %}{% endfor %}",
    "'x' * 150000 in a 1,000 x 1,000 loop":
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ 'x' * 150000 }}"
        "{% endfor %}{% endfor %}",
    "recursion through a macro":
        "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}",
    "output past the email cap":
        "{% for a in range(250) %}{{ 'y' * 1000 }}{% endfor %}",
    "heavy but allowed (45,000 iterations)":
        "{% for a in range(45) %}{% for b in range(1000) %}"
        "{{ ('incident ' ~ b) | title | wordcount }}{% endfor %}{% endfor %}",
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def child(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    from app.messages.composer import TemplateRenderError, render, sample_context
    from app.messages.library import builtin_templates

    source = builtin_templates()["status_update/technical/email"]
    context = sample_context(source, datetime.now(timezone.utc))
    heavy = dataclasses.replace(source, sections=tuple(
        (part, CASES[name] if part == "text" else body, line)
        for part, body, line in source.sections))
    before = peak_mb()
    start = time.perf_counter()
    try:
        rendered = render(heavy, context)
        said = f"rendered: {len(rendered.text):,} characters"
    except TemplateRenderError as exc:
        rendered, said = None, str(exc)
    took = time.perf_counter() - start
    if rendered is not None:   # the composer lints what it shows (it took 13 s here once)
        from app.domain.dto import Facts
        from app.messages.lint.linter import LintContext, lint

        t = time.perf_counter()
        lint(rendered.text, LintContext("email", "technical", "status_update", "investigating",
                                        Facts()), subject=rendered.subject, html=rendered.html)
        said += f"; linted in {time.perf_counter() - t:.2f} s"
    print(json.dumps({"took": took, "grew_mb": peak_mb() - before, "peak_mb": peak_mb(),
                      "said": said}))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        child(sys.argv[2])
        return 0
    ok = True
    print(f"{'case':<40} {'time':>7} {'grew':>9} {'peak':>9}  what the coordinator is told")
    for name in CASES:
        run = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                             text=True, timeout=120)
        if run.returncode != 0:
            print(f"{name:<40} FAILED: {run.stderr.strip()[-500:]}")
            ok = False
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        good = r["took"] < TARGET_S and r["grew_mb"] < TARGET_MB
        ok &= good
        print(f"{name:<40} {r['took']:6.2f}s {r['grew_mb']:7.1f}MB {r['peak_mb']:7.1f}MB  "
              f"{r['said'][:90]}{'' if good else '   OVER TARGET'}")
    print(f"targets: under {TARGET_S:.0f} s and {TARGET_MB:.0f} MB each: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
