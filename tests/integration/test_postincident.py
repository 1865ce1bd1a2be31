"""Post-incident fields, remediation plan and feedback (app/reports/postincident.py) on a real migrated
SQLite store."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app import events as ev
from app.domain.dto import ClientSettings, ContactPointData, StakeholderData
from app.domain.enums import Phase, Severity, TimelineKind
from app.errors import NotFound, ValidationError
from app.events import EventBus
from app.incidents.lifecycle import IncidentClosed
from app.reports.model import FeedbackEntry, PostIncident, RemediationItem
from app.reports.postincident import FIELD_MAX, NotResolved, PostIncidentService
from app.stakeholders.clients import save_client
from app.stakeholders.importing.read import ImportFileError
from app.stakeholders.service import StakeholderService

CLOSED = "This incident is closed: its record is final."


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def published(bus) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    for topic in (ev.POST_INCIDENT_CHANGED, ev.TIMELINE_APPENDED, ev.INCIDENT_CHANGED):
        bus.subscribe(topic, lambda payload, topic=topic: seen.append((topic, payload)))
    return seen


@pytest.fixture
def post(store, frozen_clock, bus) -> PostIncidentService:
    return PostIncidentService(store, frozen_clock, bus, actor="Test Coordinator")


@pytest.fixture
def incident(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Email delivery delayed",
                          severity=Severity.SEV2, detected_at=frozen_clock.now())


@pytest.fixture
def resolved(incidents, incident):
    return incidents.move_phase(incident.id, Phase.RESOLVED)


@pytest.fixture
def closed(incidents, resolved):
    return incidents.move_phase(resolved.id, Phase.CLOSED)


@pytest.fixture
def people(store, frozen_clock, client_id) -> dict[str, int]:
    svc = StakeholderService(store, frozen_clock)

    def add(name: str, email: str, client: int = client_id) -> int:
        return svc.create(StakeholderData(
            client_id=client, name=name, category="management",
            contacts=(ContactPointData("email", email, 1),))).id

    return {"Zoë Müller": add("Zoë Müller", "zoe@example.com"),
            "Tom Baker": add("Tom Baker", "tom@example.com"),
            "Rachel Green": add("Rachel Green", "rachel@example.com")}


def timeline(incidents, incident_id):
    return incidents.timeline(incident_id)


def fields(**changes):
    base = dict(impact_summary="", root_cause="", root_cause_under_investigation=True,
                lessons_learned="")
    base.update(changes)
    return base


def row_count(store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


# ---------------------------------------------------------------- reading

def test_a_new_incident_has_empty_post_incident_fields(post, incident):
    assert post.get(incident.id) == PostIncident(incident_id=incident.id)
    assert post.get(incident.id).root_cause_under_investigation is True


def test_get_an_unknown_incident_is_not_found(post):
    with pytest.raises(NotFound):
        post.get(999)


# ---------------------------------------------------------------- save_fields

def test_save_fields_stores_and_appends_one_timeline_entry(post, incidents, incident,
                                                            published):
    before = len(timeline(incidents, incident.id))
    result = post.save_fields(incident.id, **fields(
        impact_summary="  Mail delayed 2 h for 300 users. ", root_cause="Full queue disk",
        root_cause_under_investigation=False, lessons_learned="Alert on queue disk."))
    assert result.impact_summary == "Mail delayed 2 h for 300 users."
    assert result.root_cause == "Full queue disk"
    assert result.root_cause_under_investigation is False
    assert post.get(incident.id) == result
    entries = timeline(incidents, incident.id)[before:]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.kind == TimelineKind.FACTS_CHANGED.value
    assert entry.actor == "Test Coordinator"
    assert entry.data == {"field": "post_incident",
                          "changed": ["impact_summary", "root_cause",
                                      "root_cause_under_investigation", "lessons_learned"]}
    assert entry.summary.startswith("Post-incident: impact summary, root cause, ")
    assert "lessons learned updated" in entry.summary
    assert "no longer under investigation" in entry.summary
    topics = [t for t, _ in published]
    assert topics.count(ev.TIMELINE_APPENDED) == 1
    assert (ev.POST_INCIDENT_CHANGED, incident.id) in published
    assert ev.INCIDENT_CHANGED in topics


def test_save_fields_names_only_what_changed_and_nothing_when_nothing_did(post, incidents,
                                                                          incident):
    post.save_fields(incident.id, **fields(impact_summary="Mail delayed"))
    before = len(timeline(incidents, incident.id))
    post.save_fields(incident.id, **fields(impact_summary="Mail delayed",
                                           root_cause="Disk full",
                                           lessons_learned="Watch the disk"))
    [entry] = timeline(incidents, incident.id)[before:]
    assert entry.summary == "Post-incident: root cause, lessons learned updated"
    assert entry.data["changed"] == ["root_cause", "lessons_learned"]
    # the same again (whitespace aside) changes nothing and says nothing
    post.save_fields(incident.id, **fields(impact_summary="Mail delayed ",
                                           root_cause=" Disk full",
                                           lessons_learned="Watch the disk"))
    assert len(timeline(incidents, incident.id)) == before + 1


def test_root_cause_is_required_once_no_longer_under_investigation(post, incidents, incident):
    before = len(timeline(incidents, incident.id))
    with pytest.raises(ValidationError) as err:
        post.save_fields(incident.id, **fields(impact_summary="x", root_cause="  ",
                                               root_cause_under_investigation=False))
    assert err.value.errors == {"root_cause": "Write the root cause, or tick 'under "
                                              "investigation'."}
    assert post.get(incident.id).impact_summary == ""  # nothing stored
    assert len(timeline(incidents, incident.id)) == before
    # while under investigation an empty root cause is fine
    assert post.save_fields(incident.id, **fields(impact_summary="x")).impact_summary == "x"


@pytest.mark.parametrize("name", ["impact_summary", "root_cause", "lessons_learned"])
def test_each_text_is_limited_with_its_own_message(post, incident, name):
    with pytest.raises(ValidationError) as err:
        post.save_fields(incident.id, **fields(**{name: "x" * (FIELD_MAX + 1)}))
    assert list(err.value.errors) == [name]
    assert "20,000" in err.value.errors[name]
    assert post.get(incident.id) == PostIncident(incident_id=incident.id)
    assert getattr(post.save_fields(incident.id, **fields(**{name: "y" * FIELD_MAX})),
                   name) == "y" * FIELD_MAX


# ---------------------------------------------------------------- confirm_resolution

def test_resolution_can_be_confirmed_only_when_resolved(post, incidents, incident):
    with pytest.raises(NotResolved, match="not resolved"):
        post.confirm_resolution(incident.id, "Dana Lee")
    assert post.get(incident.id).resolution_confirmed_by == ""
    incidents.move_phase(incident.id, Phase.RESOLVED)
    result = post.confirm_resolution(incident.id, "  Dana   Lee ")
    assert result.resolution_confirmed_by == "Dana Lee"


def test_confirm_resolution_defaults_to_now_and_records_a_decision(post, incidents, resolved,
                                                                    frozen_clock, published):
    frozen_clock.advance(hours=2)
    result = post.confirm_resolution(resolved.id, "Dana Lee")
    assert result.resolution_confirmed_at == frozen_clock.now()
    assert post.get(resolved.id).resolution_confirmed_at == frozen_clock.now()
    entry = timeline(incidents, resolved.id)[-1]
    assert entry.kind == TimelineKind.DECISION.value
    assert entry.summary == "Resolution confirmed by Dana Lee at 2026-03-02 11:00 UTC"
    assert entry.data["confirmed_by"] == "Dana Lee"
    assert (ev.TIMELINE_APPENDED, entry) in published
    assert (ev.POST_INCIDENT_CHANGED, resolved.id) in published


def test_confirm_resolution_at_a_given_time(post, resolved, frozen_clock):
    frozen_clock.advance(hours=3)
    at = resolved.detected_at + timedelta(hours=1)
    assert post.confirm_resolution(resolved.id, "Dana", at).resolution_confirmed_at == at
    # a naive time is taken as UTC
    later = post.confirm_resolution(resolved.id, "Dana", datetime(2026, 3, 2, 11, 30))
    assert later.resolution_confirmed_at == datetime(2026, 3, 2, 11, 30, tzinfo=timezone.utc)


def test_confirm_resolution_refuses_future_past_and_no_name(post, incidents, resolved,
                                                            frozen_clock):
    before = len(timeline(incidents, resolved.id))
    with pytest.raises(ValidationError) as err:
        post.confirm_resolution(resolved.id, "Dana", frozen_clock.now() + timedelta(hours=1))
    assert err.value.errors == {"confirmed_at": "The confirmation time cannot be in the future."}
    with pytest.raises(ValidationError) as err:
        post.confirm_resolution(resolved.id, "Dana", resolved.detected_at - timedelta(seconds=1))
    assert "before the incident was detected" in err.value.errors["confirmed_at"]
    with pytest.raises(ValidationError) as err:
        post.confirm_resolution(resolved.id, "   ")
    assert err.value.errors == {"confirmed_by": "Say who confirmed the resolution."}
    assert len(timeline(incidents, resolved.id)) == before
    assert post.get(resolved.id).resolution_confirmed_at is None


# ---------------------------------------------------------------- closed incidents

def test_a_closed_incident_refuses_every_write_but_feedback(post, incidents, incident, people,
                                                            store):
    item = post.add_item(incident.id, "Add queue disk alert")
    incidents.move_phase(incident.id, Phase.RESOLVED)
    post.confirm_resolution(incident.id, "Dana")
    incidents.move_phase(incident.id, Phase.CLOSED)
    before = post.get(incident.id)
    entries = len(timeline(incidents, incident.id))
    writes = [
        lambda: post.save_fields(incident.id, **fields(impact_summary="late edit")),
        lambda: post.confirm_resolution(incident.id, "Someone else"),
        lambda: post.add_item(incident.id, "Another step"),
        lambda: post.update_item(item.id, "Changed", "", None, True),
        lambda: post.delete_item(item.id),
        lambda: post.move_item(item.id, 0),
        lambda: post.restore_item(incident.id, dataclasses.replace(item, id=999), 0),
    ]
    for write in writes:
        with pytest.raises(IncidentClosed) as err:
            write()
        assert str(err.value) == CLOSED
    assert post.get(incident.id) == before
    assert len(timeline(incidents, incident.id)) == entries
    # feedback arrives after closure: allowed, and so is correcting it
    entry = post.add_feedback(incident.id, people["Tom Baker"], "", 4, "Clear updates")
    assert post.get(incident.id).feedback == (entry,)
    post.delete_feedback(entry.id)
    assert post.restore_feedback(incident.id, entry) == entry
    plan = post.plan_feedback_import(incident.id, b"Name,Rating\nRachel Green,5\n")
    assert post.apply_feedback_import(plan) == 1
    assert row_count(store, "feedback") == 2


# ---------------------------------------------------------------- remediation

def test_remediation_items_keep_their_order(post, incident, published):
    a = post.add_item(incident.id, "Alert on queue disk", "Ops", date(2026, 3, 9))
    b = post.add_item(incident.id, "  Second MX  ")
    c = post.add_item(incident.id, "Runbook for mail queue", owner="  Sam   Ray ")
    assert a == RemediationItem(id=a.id, text="Alert on queue disk", owner="Ops",
                                due_date=date(2026, 3, 9), done=False)
    assert b.text == "Second MX" and c.owner == "Sam Ray"
    assert post.get(incident.id).remediation == (a, b, c)
    assert published.count((ev.POST_INCIDENT_CHANGED, incident.id)) == 3
    moved = post.move_item(c.id, 0)
    assert [i.id for i in moved] == [c.id, a.id, b.id]
    assert post.get(incident.id).remediation == moved
    assert [i.id for i in post.move_item(c.id, 99)] == [a.id, b.id, c.id]  # clamped


def test_update_item_changes_fields_and_done(post, incident):
    item = post.add_item(incident.id, "Alert on queue disk")
    updated = post.update_item(item.id, "Alert on queue disk at 80 %", "Ops",
                               date(2026, 3, 20), True)
    assert updated == RemediationItem(id=item.id, text="Alert on queue disk at 80 %",
                                      owner="Ops", due_date=date(2026, 3, 20), done=True)
    assert post.get(incident.id).remediation == (updated,)


def test_remediation_validation_messages(post, incident, store):
    cases = [
        (dict(text="   "), "text", "Describe the remediation step."),
        (dict(text="x" * 2001), "text", "2,000"),
        (dict(text="ok", owner="o" * 201), "owner", "200"),
        (dict(text="ok", due_date=date(2026, 3, 1)), "due_date", "before the incident"),
    ]
    for kwargs, field, message in cases:
        with pytest.raises(ValidationError) as err:
            post.add_item(incident.id, **kwargs)
        assert list(err.value.errors) == [field]
        assert message in err.value.errors[field]
    assert row_count(store, "remediation_items") == 0
    item = post.add_item(incident.id, "x" * 2000, "o" * 200, date(2026, 3, 2))  # limits are ok
    with pytest.raises(ValidationError) as err:
        post.update_item(item.id, "", "", None, False)
    assert "text" in err.value.errors
    assert post.get(incident.id).remediation == (item,)


def test_due_date_is_checked_against_the_detection_date_in_the_clients_zone(
        post, incidents, store, frozen_clock):
    la = save_client(store, frozen_clock, ClientSettings(name="Northwind",
                                                         time_zone="America/Los_Angeles"))
    # 03:00 UTC on 2 March is still 1 March in Los Angeles
    opened = incidents.open(client_id=la.id, title="EHR slow", severity=Severity.SEV3,
                            detected_at=datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc))
    assert post.add_item(opened.id, "Same local day", due_date=date(2026, 3, 1)).due_date == \
        date(2026, 3, 1)
    with pytest.raises(ValidationError) as err:
        post.add_item(opened.id, "Day before", due_date=date(2026, 2, 28))
    assert "2026-03-01" in err.value.errors["due_date"]


def test_delete_then_restore_keeps_the_id_and_the_position(post, incident):
    a, b, c = (post.add_item(incident.id, t) for t in ("first", "second", "third"))
    removed, position = post.delete_item(b.id)
    assert (removed, position) == (b, 1)
    assert post.get(incident.id).remediation == (a, c)
    assert post.restore_item(incident.id, removed, position) == b
    assert post.get(incident.id).remediation == (a, b, c)


def test_restore_after_newer_items_were_added_keeps_both(post, incident):
    a = post.add_item(incident.id, "first")
    b = post.add_item(incident.id, "second")
    removed, position = post.delete_item(b.id)
    newer = post.add_item(incident.id, "newer")
    assert newer.id != b.id  # ids are never reused
    post.restore_item(incident.id, removed, position)
    assert [i.text for i in post.get(incident.id).remediation] == ["first", "second", "newer"]
    assert post.get(incident.id).remediation[0] == a


def test_unknown_item_is_not_found(post):
    with pytest.raises(NotFound):
        post.delete_item(12345)


# ---------------------------------------------------------------- feedback

def test_feedback_with_a_stakeholder_stores_the_stakeholders_name(post, incident, people,
                                                                  published):
    entry = post.add_feedback(incident.id, people["Tom Baker"], "whatever", 5, " Timely. ")
    assert entry == FeedbackEntry(id=entry.id, stakeholder_id=people["Tom Baker"],
                                  stakeholder_name="Tom Baker", rating=5, comment="Timely.",
                                  created_at=entry.created_at)
    assert (ev.POST_INCIDENT_CHANGED, incident.id) in published
    free = post.add_feedback(incident.id, None, "  Walk-in   caller ", 2, "")
    assert free.stakeholder_id is None and free.stakeholder_name == "Walk-in caller"


def test_feedback_is_listed_by_time(post, incident, people, frozen_clock):
    late = post.add_feedback(incident.id, people["Tom Baker"], "", 3)
    frozen_clock.advance(minutes=5)
    later = post.add_feedback(incident.id, None, "Someone", 4)
    assert post.get(incident.id).feedback == (late, later)
    assert later.created_at == frozen_clock.now()


@pytest.mark.parametrize("rating", [0, 6, -1, True, "5", 4.5, None])
def test_feedback_rating_must_be_1_to_5(post, incident, store, rating):
    with pytest.raises(ValidationError) as err:
        post.add_feedback(incident.id, None, "Dana", rating)
    assert err.value.errors == {"rating": "Give a rating from 1 (poor) to 5 (excellent)."}
    assert row_count(store, "feedback") == 0


def test_feedback_needs_a_name_without_a_stakeholder(post, incident, store):
    with pytest.raises(ValidationError) as err:
        post.add_feedback(incident.id, None, "   ", 3)
    assert err.value.errors == {"stakeholder_name": "Say who gave this feedback."}
    assert row_count(store, "feedback") == 0


def test_feedback_stakeholder_must_belong_to_the_incidents_client(post, incident, store,
                                                                 frozen_clock):
    other = save_client(store, frozen_clock, ClientSettings(name="Harbor IT"))
    outsider = StakeholderService(store, frozen_clock).create(StakeholderData(
        client_id=other.id, name="Outsider", category="media")).id
    for sid in (outsider, 99999):
        with pytest.raises(ValidationError) as err:
            post.add_feedback(incident.id, sid, "Outsider", 4)
        assert "stakeholder_id" in err.value.errors
    assert row_count(store, "feedback") == 0


def test_deleted_feedback_restores_as_it_was(post, incident, people, frozen_clock):
    entry = post.add_feedback(incident.id, people["Tom Baker"], "", 4, "Good")
    frozen_clock.advance(hours=1)
    assert post.delete_feedback(entry.id) == entry
    assert post.get(incident.id).feedback == ()
    restored = post.restore_feedback(incident.id, entry)
    assert restored == entry  # same id, name and time
    assert post.get(incident.id).feedback == (entry,)


def test_feedback_keeps_the_name_when_the_stakeholder_is_deleted(post, incident, people, store,
                                                                 frozen_clock):
    entry = post.add_feedback(incident.id, people["Tom Baker"], "", 4)
    StakeholderService(store, frozen_clock).delete(people["Tom Baker"])
    [kept] = post.get(incident.id).feedback
    assert kept == dataclasses.replace(entry, stakeholder_id=None)
    # restoring a deleted entry whose stakeholder is gone keeps the name, drops the link
    post.delete_feedback(entry.id)
    assert post.restore_feedback(incident.id, entry).stakeholder_id is None


# ---------------------------------------------------------------- CSV import

LATIN1_CSV = ("Name,Rating,Comment\n"
              "Zoë Müller,5,Très clair\n"
              "tom baker,4/5,\n"
              "Nobody Known,3,who?\n"
              ",4,no name\n"
              "Rachel Green,excellent,\n").encode("latin-1")


def test_plan_a_latin1_csv_matches_names_and_reports_problems(post, incident, people, store):
    plan = post.plan_feedback_import(incident.id, LATIN1_CSV, "survey.csv")
    assert plan.encoding in ("cp1252", "latin-1") and plan.delimiter == ","
    assert [(r.line, r.ok) for r in plan.rows] == [(2, True), (3, True), (4, False),
                                                    (5, False), (6, False)]
    zoe, tom, unknown, empty, bad = plan.rows
    assert (zoe.stakeholder_id, zoe.stakeholder_name, zoe.rating, zoe.comment) == \
        (people["Zoë Müller"], "Zoë Müller", 5, "Très clair")
    assert (tom.stakeholder_name, tom.rating) == ("Tom Baker", 4)
    assert unknown.problem.startswith("No stakeholder of ")
    assert unknown.problem.endswith(" is called “Nobody Known”.")
    assert empty.problem == "No name or email: say who gave this rating."
    assert bad.problem.startswith("Unknown rating “excellent”")
    assert row_count(store, "feedback") == 0  # planning writes nothing

    assert post.apply_feedback_import(plan) == 2
    feedback = post.get(incident.id).feedback
    assert {(f.stakeholder_name, f.rating, f.comment) for f in feedback} == \
        {("Zoë Müller", 5, "Très clair"), ("Tom Baker", 4, "")}
    assert "Nobody Known" not in {f.stakeholder_name for f in feedback}


def test_plan_a_semicolon_csv_with_stakeholder_score_and_email_columns(post, incident, people):
    data = ("STAKEHOLDER;E-Mail;Score;Comments\n"
            "R. Green;RACHEL@example.com;2;Too late\n"
            "Tom Baker;;3;\"Fine; a bit technical\"\n"
            ";nobody@example.com;4;\n").encode("utf-8")
    plan = post.plan_feedback_import(incident.id, data)
    assert plan.delimiter == ";"
    rachel, tom, stranger = plan.rows
    assert (rachel.stakeholder_id, rachel.rating, rachel.comment) == \
        (people["Rachel Green"], 2, "Too late")
    assert (tom.stakeholder_id, tom.comment) == (people["Tom Baker"], "Fine; a bit technical")
    assert not stranger.ok and "nobody@example.com" in stranger.problem
    assert len(plan.ok_rows) == 2 and plan.problem_rows == (stranger,)


def test_importing_the_same_file_twice_does_not_count_twice(post, incident, people):
    data = b"name,rating\nTom Baker,4\nTom Baker,4\n"
    plan = post.plan_feedback_import(incident.id, data)
    assert [r.ok for r in plan.rows] == [True, False]
    assert plan.rows[1].problem == "Repeats line 2."
    assert post.apply_feedback_import(plan) == 1
    assert post.apply_feedback_import(plan) == 0  # applied again: nothing new
    again = post.plan_feedback_import(incident.id, data)
    assert not again.rows[0].ok and "already recorded" in again.rows[0].problem
    assert len(post.get(incident.id).feedback) == 1


def test_a_file_without_a_rating_column_is_refused(post, incident, people):
    with pytest.raises(ImportFileError, match="Rating"):
        post.plan_feedback_import(incident.id, b"Name,Comment\nTom Baker,ok\n", "f.csv")
    with pytest.raises(ImportFileError, match="Name"):
        post.plan_feedback_import(incident.id, b"Rating,Comment\n4,ok\n", "f.csv")
    with pytest.raises(ImportFileError, match="empty"):
        post.plan_feedback_import(incident.id, b"  \n", "f.csv")


def test_import_is_one_transaction(post, incident, people, store):
    plan = post.plan_feedback_import(incident.id,
                                     b"name,rating\nTom Baker,4\nRachel Green,5\n")
    bad_row = dataclasses.replace(plan.rows[1], rating=9)  # the database CHECK refuses it
    broken = dataclasses.replace(plan, rows=(plan.rows[0], bad_row))
    with pytest.raises(Exception, match="CHECK"):
        post.apply_feedback_import(broken)
    assert row_count(store, "feedback") == 0
