"""Mutation testing of one group of critical modules with only the tests that exercise them:
`make mutate M=email` (or `.venv/bin/python tests/mutation/run_group.py email`).

`make mutate` alone mutates every module of [tool.mutmut] against the whole unit and
integration suite: thousands of mutants, hours. A group here takes minutes: its modules, the
test files written for them, a 60 s limit per test (a mutant that hangs a server exchange fails
fast), in a work folder of its own under build/mutate-GROUP that is kept between runs. A run
copies the current sources and tests there (`--committed`: as HEAD holds them); mutmut re-tests
the functions that changed, and the mutants that survived last time and are not listed as
equivalent are tested again (the tests may have changed), so a second run after adding a test
is quick. The score and the survivors not listed in equivalent.txt are
printed at the end; exit status 1 while a survivor is left in a strict module (score.py).

A mutant that survives here may still be killed by a test outside the group's files: check it
with `mutmut run NAME` in the repository root (the whole suite) before listing it. mutmut runs
for each mutant the tests its recorded coverage names, recorded once per test name: a test
changed under the same name to reach new code keeps its old coverage (a new test is recorded),
so check such a kill with MUTANT_UNDER_TEST=NAME in build/mutate-GROUP/mutants, or `--fresh`."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import equivalent_mutants  # noqa: E402  (tests/mutation/score.py)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# group -> (modules to mutate, the tests that exercise them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "outbox": (["app/sending/outbox.py", "app/sending/runner.py"],
               ["tests/unit/test_outbox.py", "tests/unit/test_outbox_recording.py",
                "tests/unit/test_outbox_wire.py", "tests/unit/test_sender_lease.py",
                "tests/unit/test_storage_full.py",
                "tests/integration/test_outbox_crash.py",
                "tests/integration/test_outbox_smtp_faults.py",
                "tests/integration/test_outbox_disk_full.py"]),
    "flush": (["app/sending/flush.py", "app/sending/rows.py", "app/sending/starts.py",
               "app/sending/lease.py", "app/sending/commits.py"],
              ["tests/unit/test_outbox.py", "tests/unit/test_outbox_recording.py",
               "tests/unit/test_start_marks.py", "tests/unit/test_sender_lease.py",
               "tests/unit/test_writer_commits.py",
               "tests/unit/test_outbox_wire.py",
               "tests/integration/test_outbox_crash.py",
               "tests/integration/test_outbox_crash_smtp.py",
               "tests/integration/test_outbox_smtp_faults.py",
               "tests/integration/test_outbox_disk_full.py",
               "tests/integration/test_sending_end_to_end.py",
               "tests/integration/test_sms_end_to_end.py",
               "tests/integration/test_sms_replies.py"]),
    "email": (["app/sending/channels/email.py", "app/sending/channels/mime.py",
               "app/sending/channels/wire.py"],
              ["tests/unit/test_email_rules.py", "tests/unit/test_mime.py",
               "tests/unit/test_outbox_wire.py", "tests/unit/test_wire.py",
               "tests/integration/test_channel_email.py",
               "tests/integration/test_channel_sms.py",
               "tests/integration/test_outbox_crash_smtp.py",
               "tests/integration/test_outbox_smtp_faults.py"]),
    "sms": (["app/sending/channels/sms.py"],
            ["tests/unit/test_sms_rules.py", "tests/unit/test_sms.py",
             "tests/unit/test_sms_status.py", "tests/unit/test_sms_pool.py",
             "tests/integration/test_channel_sms.py",
             "tests/integration/test_sms_end_to_end.py",
             "tests/unit/test_sms_inbound_pure.py",
             "tests/integration/test_sms_replies.py",
             "tests/integration/test_sms_list_inbound.py"]),
    "accounts": (["app/sending/secrets.py", "app/sending/accounts.py"],
                 ["tests/unit/test_secrets.py", "tests/unit/test_accounts.py"]),
    "sandbox": (["app/messages/sandbox.py"],
                ["tests/unit/test_sandbox.py", "tests/unit/test_composer.py"]),
    "regulatory": (["app/clocks/regulatory.py"],
                   ["tests/unit/test_regulatory.py", "tests/unit/test_regulatory_table.py",
                    "tests/unit/test_business_days_properties.py",
                    "tests/integration/test_clocks_service.py"]),
    "lifecycle": (["app/incidents/lifecycle.py"],
                  ["tests/unit/test_incidents.py", "tests/unit/test_phases.py",
                   "tests/unit/test_incident_record.py", "tests/unit/test_coordinators.py"]),
    "clients": (["app/stakeholders/clients.py"],
                ["tests/unit/test_clients_stakeholders.py", "tests/unit/test_client_settings.py",
                 "tests/unit/test_client_rules.py"]),
}


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def prepare(group: str, work: Path, committed: bool = False) -> None:
    """The tracked files of the checkout (as they are now, or as last committed) copied into
    `work`, with the group's modules and tests in its [tool.mutmut]."""
    modules, tests = GROUPS[group]
    if committed:   # what HEAD holds: edits under way in the checkout stay out of the run
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    else:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                                capture_output=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            source = ROOT / name
            if source.is_file():
                target = work / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config = re.sub(r"only_mutate = \[.*?\]", f"only_mutate = {toml_list(modules)}", config,
                    flags=re.S)
    config = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]",
                    f"pytest_add_cli_args_test_selection = {toml_list(tests)}", config,
                    flags=re.S)
    config = re.sub(r"pytest_add_cli_args = \[(.*?)\]",
                    lambda m: f'pytest_add_cli_args = [{m.group(1)}, "--timeout=60"]', config,
                    count=1, flags=re.S)
    (work / "pyproject.toml").write_text(config, encoding="utf-8")


def survivors(work: Path) -> list[str]:
    answer = subprocess.run([str(BIN / "mutmut"), "results"], cwd=work, capture_output=True,
                            text=True)
    return [line.split(":")[0].strip() for line in answer.stdout.splitlines()
            if line.strip().endswith("survived")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--committed", action="store_true",
                        help="mutate the files as committed, not as they are in the checkout")
    args = parser.parse_args()
    work = ROOT / "build" / f"mutate-{args.group}"
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    prepare(args.group, work, args.committed)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = [str(BIN / "mutmut"), "run", "--max-children", str(args.max_children)]
    with open(work / "mutants.log", "w", encoding="utf-8") as log:
        # survived last time and not judged equivalent: the tests may have changed since
        listed = equivalent_mutants()
        again = [name for name in survivors(work) if name not in listed]
        if again:
            subprocess.run(run + again, cwd=work, env=env, stdout=log, stderr=log)
        subprocess.run(run, cwd=work, env=env, stdout=log, stderr=log)
    print(f"(results in {work.relative_to(ROOT)}; `mutmut show NAME` there shows a mutant)")
    return subprocess.run([sys.executable, str(Path(__file__).with_name("score.py")),
                           "--root", str(work)]).returncode


if __name__ == "__main__":
    sys.exit(main())
