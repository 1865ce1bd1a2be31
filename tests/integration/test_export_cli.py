"""`clarion export` as a user runs it: a real process on a seeded demo database, headless, writing
Markdown (+ chart PNG), HTML and PDF; the PDF read back with poppler's pdftotext and pdfinfo."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "Patient portal unavailable"      # the demo's first incident (notes and a decision)
BREACH = "Lab results emailed to the wrong patients"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None
                                   or shutil.which("pdfinfo") is None,
                                   reason="poppler-utils (pdftotext, pdfinfo) is not installed")


def clarion(*args: str, data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "ui.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def pdf_text(path: Path, without_footer: str = "") -> str:
    """The PDF's words in reading order, whitespace collapsed, "ﬁ" ligatures unfolded; with
    `without_footer`, that footer and the page numbers are taken out, so that a paragraph
    running over a page break reads as one."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    text = " ".join(unicodedata.normalize("NFKC", out).split())
    if without_footer:
        text = re.sub(r"\s*Page \d+ of \d+\s*", " ", text.replace(without_footer, " "))
        text = " ".join(text.split())
    return text


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)[1])


def windows(text: str, n: int = 6) -> set[str]:
    words = text.split()
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """A demo data folder, seeded once, and the internal texts of its first incident read back
    through the services: every note and decision, and who wrote them."""
    from app.clock import SystemClock
    from app.demo.seed import ensure_demo
    from app.domain.enums import TimelineKind
    from app.incidents.lifecycle import IncidentService
    from app.storage import Store

    data_dir = tmp_path_factory.mktemp("clarion-data")
    db = data_dir / "demo" / "clarion-demo.db"
    db.parent.mkdir(parents=True)
    ensure_demo(db, SystemClock())
    store = Store.open(db)
    try:
        service = IncidentService(store, SystemClock())
        portal = next(i for i in service.list() if i.title == PORTAL)
        internal = [e for e in service.timeline(portal.id)
                    if e.kind in (TimelineKind.NOTE, TimelineKind.DECISION)]
    finally:
        store.dispose()
    notes = [e.summary for e in internal if e.kind == TimelineKind.NOTE]
    decisions = [e.summary for e in internal if e.kind == TimelineKind.DECISION]
    assert notes and decisions, "the demo incident should carry notes and a decision"
    return {"dir": data_dir, "id": portal.id, "notes": notes, "decisions": decisions,
            "actors": sorted({e.actor for e in internal if e.actor})}


@needs_poppler
@pytest.mark.parametrize("audience", ["technical", "executive", "customer"])
def test_pdf_parses_and_carries_the_title(demo, tmp_path, audience):
    out = tmp_path / f"report-{audience}.pdf"
    result = clarion("export", str(demo["id"]), "--format", "pdf", "--audience", audience,
                     "-o", str(out), "--demo", data_dir=demo["dir"])
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    assert pdf_pages(out) >= 1
    text = pdf_text(out)
    assert PORTAL in text
    assert "Page 1 of" in text  # the footer
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    assert PORTAL in info  # the title metadata
    assert not list(tmp_path.glob(".*.part")), "no temporary file is left behind"


@needs_poppler
def test_customer_pdf_keeps_notes_decisions_and_names_inside_technical_pdf_shows_them(
        demo, tmp_path):
    texts = {}
    for audience in ("customer", "technical"):
        out = tmp_path / f"{audience}.pdf"
        result = clarion("export", "patient portal", "--audience", audience, "-o", str(out),
                         "--demo", data_dir=demo["dir"])  # a title prefix, format from .pdf
        assert result.returncode == 0, result.stderr
        texts[audience] = pdf_text(out, f"{PORTAL} · {audience.capitalize()} version")
    internal = demo["notes"] + demo["decisions"]
    customer, technical = texts["customer"], texts["technical"]
    # a timeline row split by a page break has the table's header repeated inside it (the
    # PDF repeats headers on every page): read the text without it
    technical = " ".join(technical.replace("Time Event What — by whom", " ").split())
    for text in internal:
        leaked = [w for w in windows(text) if w in customer]
        assert not leaked, f"the customer version shows internal text: {leaked[:3]}"
        # every run of six words, not the whole text at once: a table cell split by a page
        # break is drawn (clipped) on both pages, so pdftotext may read one line twice
        missing = [w for w in windows(text) if w not in technical]
        assert not missing, f"the technical version lacks: {missing[:3]}"
    for actor in demo["actors"]:
        assert actor not in customer, f"the customer version names {actor!r}"


def test_html_is_well_formed_with_the_chart_inside(demo, tmp_path):
    out = tmp_path / "report.html"
    result = clarion("export", str(demo["id"]), "--format", "html", "--audience", "executive",
                     "-o", str(out), "--demo", data_dir=demo["dir"])
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    root = ET.fromstring(re.sub(r"^\s*<!DOCTYPE[^>]*>", "", html, count=1, flags=re.I))
    assert root.tag == "html"
    assert PORTAL in "".join(root.itertext())
    images = [img.get("src", "") for img in root.iter("img")]
    charts = [src for src in images if src.startswith("data:image/png;base64,")]
    assert charts, "the chart is embedded"
    assert base64.b64decode(charts[0].split(",", 1)[1])[:8] == PNG_MAGIC
    assert not list(tmp_path.glob("*.png")), "HTML needs no file beside it"


def test_markdown_has_the_title_and_links_its_chart_file(demo, tmp_path):
    out = tmp_path / "breach.md"
    result = clarion("export", "Lab results", "--format", "md", "--audience", "executive",
                     "-o", str(out), "--demo", data_dir=demo["dir"])
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert BREACH in text
    chart = tmp_path / "breach.chart.png"
    assert chart.read_bytes()[:8] == PNG_MAGIC
    assert "(breach.chart.png)" in text


@pytest.mark.parametrize("incident", ["no such incident", "999"])
def test_unknown_incident_is_one_line_and_no_file(demo, tmp_path, incident):
    out = tmp_path / "x.pdf"
    result = clarion("export", incident, "--audience", "executive", "-o", str(out), "--demo",
                     data_dir=demo["dir"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no incident matches" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
def test_unwritable_path_is_one_line(demo, tmp_path, where):
    out = tmp_path / "missing" / "x.pdf" if where == "missing-folder" else tmp_path
    result = clarion("export", str(demo["id"]), "--format", "pdf", "--audience", "executive",
                     "-o", str(out), "--demo", data_dir=demo["dir"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0], result.stderr


def test_a_failed_export_leaves_the_old_file_and_no_half_file(demo, tmp_path, monkeypatch,
                                                              qapp):
    """In-process: the PDF step fails after the report was built; the file that was there
    before is untouched and no temporary file is left."""
    from app.clock import SystemClock
    from app.storage import Store
    import ui.reports.export as report_export

    out = tmp_path / "report.pdf"
    out.write_bytes(b"the previous export")

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    import ui.reports.pdf as report_pdf

    monkeypatch.setattr(report_pdf, "blocks_to_pdf", broken)
    store = Store.open(demo["dir"] / "demo" / "clarion-demo.db")
    try:
        with pytest.raises(RuntimeError):
            report_export.export(store, SystemClock(), demo["id"], "executive", "pdf", out)
        monkeypatch.undo()
        written = report_export.export(store, SystemClock(), demo["id"], "customer", "md",
                                       tmp_path / "again.md")
    finally:
        store.dispose()
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.chart.png", "again.md",
                                                          "report.pdf"]
    assert written.path == tmp_path / "again.md" and written.warnings == ()


@needs_poppler
def test_what_the_pdf_cannot_print_as_text_is_said_on_stderr(demo, tmp_path):
    """A note with an emoji and a character no font has: the PDF is written (exit 0), the
    emoji reads back from it, and stderr says which character prints as an empty box."""
    from app.clock import SystemClock
    from app.incidents.lifecycle import IncidentService
    from app.storage import Store

    data_dir = tmp_path / "data"
    shutil.copytree(demo["dir"], data_dir)
    store = Store.open(data_dir / "demo" / "clarion-demo.db")
    try:
        IncidentService(store, SystemClock()).add_note(
            demo["id"], "Bridge call 🔥 opened; ticket \U0010FFFD linked")
    finally:
        store.dispose()
    out = tmp_path / "technical.pdf"
    result = clarion("export", str(demo["id"]), "--audience", "technical", "-o", str(out),
                     "--demo", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert result.stderr.strip().splitlines() == [
        "clarion: warning: 1 character had no font on this computer and prints as an empty "
        "box: \U0010FFFD (U+10FFFD)."]
    assert "Bridge call 🔥 opened" in pdf_text(out)
