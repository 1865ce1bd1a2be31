"""`clarion coordinators` and `--as` as processes, on a new database: add (checked), list,
and a writing subcommand that refuses a name nobody has and works as the one given."""

from __future__ import annotations

from tests.integration.test_export_cli import clarion


def test_coordinators_are_added_listed_and_signed_with(tmp_path):
    data = tmp_path / "data"
    empty = clarion("coordinators", data_dir=data)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "No coordinators yet: `clarion coordinators add NAME` adds one."

    added = clarion("coordinators", "add", "Dana Brooks", "--email", "dana@harbor.example",
                    "--role", "day shift", data_dir=data)
    assert added.returncode == 0, added.stderr
    assert added.stdout.split() == ["1", "Dana", "Brooks"]
    bad = clarion("coordinators", "add", "Sam Reyes", "--email", "not-an-address",
                  data_dir=data)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("clarion: email: Not a valid email address")
    listed = clarion("coordinators", "list", data_dir=data)
    assert listed.stdout.splitlines() == ["   1  Dana Brooks  (day shift · dana@harbor.example)"]

    unknown = clarion("outbox", "status", "--as", "Sam Reyes", data_dir=data)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.strip() == ("clarion: no active coordinator is called 'Sam Reyes' "
                                      "(known: Dana Brooks; `clarion coordinators add NAME` "
                                      "adds one)")
    known = clarion("outbox", "status", "--as", "dana brooks", data_dir=data)
    assert known.returncode == 0, known.stderr
