"""Import benchmark: a 10,000-row CSV (valid @example.com emails, valid fictional US numbers
NPA-555-01xx) through read_csv_preview, plan_csv_import and apply_import into a fresh migrated
store, then export_csv of the result. Prints rows/s and seconds per phase.

Run: .venv/bin/python tests/benchmarks/bench_import.py [rows]   (not collected by pytest)"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CATEGORIES = ("Affected users", "Management", "Executives", "Customers", "IT staff / MSP",
              "Business unit", "compliance_legal")


def valid_numbers(count: int) -> list[str]:
    """Distinct valid US numbers: area codes 201..989 × 555-0100..0199 (the fictional block),
    each checked with phonenumbers.is_valid_number."""
    import phonenumbers

    numbers: list[str] = []
    for area in range(201, 990):
        first = phonenumbers.parse(f"+1{area}5550100")
        if not phonenumbers.is_valid_number(first):
            continue
        for line in range(100, 200):
            text = f"+1 {area} 555 0{line}"
            if phonenumbers.is_valid_number(phonenumbers.parse(text)):
                numbers.append(text)
                if len(numbers) == count:
                    return numbers
    raise SystemExit(f"only {len(numbers)} valid fictional numbers; asked for {count}")


def write_csv(path: Path, rows: int) -> None:
    numbers = valid_numbers(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Full name", "E-mail Address", "Mobile Phone", "Job Title", "Category",
                         "Notes"])
        for i in range(rows):
            writer.writerow([f"Person {i:05d}", f"person{i:05d}@example.com", numbers[i],
                             "Analyst" if i % 3 else "", CATEGORIES[i % len(CATEGORIES)],
                             "On call, weekends" if i % 10 == 0 else ""])


def main(argv: list[str] | None = None) -> int:
    from app.stakeholders.clients import ensure_default_organisation
    from app.clock import SystemClock
    from app.stakeholders.export import export_csv
    from app.stakeholders.importing.apply import apply_import
    from app.stakeholders.importing.columns import guess_columns
    from app.stakeholders.importing.plan import plan_csv_import
    from app.stakeholders.importing.read import read_csv_preview
    from app.stakeholders.service import StakeholderService
    from app.storage import Store

    args = sys.argv[1:] if argv is None else argv
    rows = int(args[0]) if args else 10_000
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "people.csv"
        write_csv(source, rows)
        size = source.stat().st_size
        store = Store.open(tmp / "b.db")
        try:
            clock = SystemClock()
            client = ensure_default_organisation(store, clock)
            service = StakeholderService(store, clock)
            timings: list[tuple[str, float]] = []

            start = time.perf_counter()
            preview = read_csv_preview(source)
            timings.append(("read_csv_preview", time.perf_counter() - start))

            start = time.perf_counter()
            plan = plan_csv_import(source, guess_columns(preview.headers), client.id,
                                   client.default_region, [])
            timings.append(("plan_csv_import", time.perf_counter() - start))
            assert not plan.problems and not plan.duplicates, plan.problems[:3]

            start = time.perf_counter()
            result = apply_import(service, plan, merge_duplicates=True, existing=[])
            timings.append(("apply_import", time.perf_counter() - start))
            assert len(result.created_ids) == rows

            stored = service.list(client.id)
            start = time.perf_counter()
            written = export_csv(stored, tmp / "export.csv")
            timings.append(("export_csv", time.perf_counter() - start))
            assert written == rows
        finally:
            store.dispose()

    print(f"{rows:,} rows ({size / 1e6:.2f} MB CSV)")
    total = 0.0
    for phase, seconds in timings:
        if phase != "export_csv":
            total += seconds
        print(f"  {phase:<18} {seconds:7.3f} s  {rows / seconds:10,.0f} rows/s")
    print(f"  {'import total':<18} {total:7.3f} s  {rows / total:10,.0f} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
