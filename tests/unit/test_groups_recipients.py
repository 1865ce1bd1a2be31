"""Groups (app/stakeholders/groups.py), recipient resolution (app/stakeholders/recipients.py) and migration 0003, on a real
migrated SQLite file; the pure graph functions also with hypothesis."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.domain.dto import ClientSettings, ContactPointData, StakeholderData
from app.domain.models import Group, GroupMember
from app.errors import NotFound, ValidationError
from app.events import EventBus
from app.stakeholders.clients import save_client
from app.stakeholders.groups import GROUPS_CHANGED, GroupService, expand, find_cycle
from app.stakeholders.recipients import choose_contact, resolve_recipients
from app.stakeholders.service import StakeholderService

# ---------------------------------------------------------------- helpers


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def gs(store, bus) -> GroupService:
    return GroupService(store, bus)


@pytest.fixture
def people(store, frozen_clock) -> StakeholderService:
    return StakeholderService(store, frozen_clock, EventBus())


@pytest.fixture
def other_client_id(store, frozen_clock) -> int:
    return save_client(store, frozen_clock, ClientSettings(name="Northwind Health")).id


def add(people: StakeholderService, client_id: int, name: str, category: str = "management",
        contacts: tuple[ContactPointData, ...] = (), **kwargs):
    return people.create(StakeholderData(client_id=client_id, name=name, category=category,
                                         contacts=contacts, **kwargs)).id


def group_rows(store) -> tuple[int, int]:
    with store.session() as session:
        return (session.scalar(select(func.count(Group.id))),
                session.scalar(select(func.count(GroupMember.id))))


# ---------------------------------------------------------------- create / rename

def test_create_cleans_the_name_and_publishes(gs, bus, client_id):
    seen = []
    bus.subscribe(GROUPS_CHANGED, seen.append)
    g = gs.create(client_id, "  Night   shift ", " on call ")
    assert (g.client_id, g.name, g.description, g.stakeholder_ids, g.group_ids) == (
        client_id, "Night shift", "on call", (), ())
    assert gs.get(g.id) == g
    assert seen == [client_id]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_refuses_a_bad_name(gs, store, client_id, name):
    with pytest.raises(ValidationError) as err:
        gs.create(client_id, name)
    assert set(err.value.errors) == {"name"}
    assert group_rows(store) == (0, 0)


def test_create_refuses_an_unknown_client(gs, store):
    with pytest.raises(ValidationError) as err:
        gs.create(4242, "Ops")
    assert set(err.value.errors) == {"client"}
    assert group_rows(store) == (0, 0)


def test_duplicate_names_are_refused_within_a_client_but_not_across(gs, store, client_id,
                                                                    other_client_id):
    first = gs.create(client_id, "Ops")
    with pytest.raises(ValidationError) as err:
        gs.create(client_id, " Ops ")
    assert set(err.value.errors) == {"name"} and "Ops" in err.value.errors["name"]
    assert group_rows(store) == (1, 0)
    theirs = gs.create(other_client_id, "Ops")
    assert theirs.id != first.id and theirs.client_id == other_client_id
    assert [g.name for g in gs.list(client_id)] == ["Ops"]
    assert [g.id for g in gs.list(other_client_id)] == [theirs.id]


def test_rename(gs, client_id, other_client_id):
    ops = gs.create(client_id, "Ops", "first")
    board = gs.create(client_id, "Board")
    gs.create(other_client_id, "Executives")
    assert gs.rename(ops.id, "Ops").name == "Ops"  # its own name is no clash
    renamed = gs.rename(ops.id, "  Operations ", "second")
    assert (renamed.name, renamed.description) == ("Operations", "second")
    assert gs.rename(ops.id, "Operations").description == "second"  # None keeps it
    assert gs.rename(ops.id, "Executives").name == "Executives"  # other client's name is free
    for bad, key in (("Board", "name"), ("", "name"), ("   ", "name")):
        with pytest.raises(ValidationError) as err:
            gs.rename(ops.id, bad)
        assert set(err.value.errors) == {key}
    assert gs.get(ops.id).name == "Executives" and gs.get(board.id).name == "Board"
    with pytest.raises(NotFound):
        gs.rename(999, "Whatever")


# ---------------------------------------------------------------- members

def test_set_members_with_stakeholders_and_nested_groups(gs, people, client_id):
    a, b, c = (add(people, client_id, n) for n in "ABC")
    inner = gs.create(client_id, "Inner")
    outer = gs.create(client_id, "Outer")
    dto = gs.set_members(outer.id, [b, a], {inner.id})
    assert (dto.stakeholder_ids, dto.group_ids) == ((a, b), (inner.id,))
    assert gs.get(outer.id) == dto
    # set_members replaces, it does not add
    dto = gs.set_members(outer.id, {c}, ())
    assert (dto.stakeholder_ids, dto.group_ids) == ((c,), ())


def test_a_group_cannot_contain_itself(gs, people, store, client_id):
    a = add(people, client_id, "A")
    g = gs.create(client_id, "Ops")
    gs.set_members(g.id, {a}, ())
    with pytest.raises(ValidationError) as err:
        gs.set_members(g.id, (), {g.id})
    assert set(err.value.errors) == {"groups"} and "Ops" in err.value.errors["groups"]
    assert gs.get(g.id).stakeholder_ids == (a,) and gs.get(g.id).group_ids == ()


def test_a_cycle_of_two_is_refused_with_its_path(gs, people, store, client_id):
    a = add(people, client_id, "A")
    alpha, beta = gs.create(client_id, "Alpha"), gs.create(client_id, "Beta")
    gs.set_members(alpha.id, (), {beta.id})
    gs.set_members(beta.id, {a}, ())
    before = (gs.list(client_id), group_rows(store))
    with pytest.raises(ValidationError) as err:
        gs.set_members(beta.id, (), {alpha.id})
    assert set(err.value.errors) == {"groups"}
    assert "Beta → Alpha → Beta" in err.value.errors["groups"]
    assert (gs.list(client_id), group_rows(store)) == before


def test_a_cycle_of_three_is_refused_with_its_path(gs, people, store, client_id):
    a = add(people, client_id, "A")
    alpha, beta, gamma = (gs.create(client_id, n) for n in ("Alpha", "Beta", "Gamma"))
    gs.set_members(alpha.id, (), {beta.id})
    gs.set_members(beta.id, (), {gamma.id})
    gs.set_members(gamma.id, {a}, ())
    before = (gs.list(client_id), group_rows(store))
    with pytest.raises(ValidationError) as err:
        gs.set_members(gamma.id, {a}, {alpha.id})
    assert "Gamma → Alpha → Beta → Gamma" in err.value.errors["groups"]
    assert (gs.list(client_id), group_rows(store)) == before
    # a diamond is not a cycle: Alpha may also hold Gamma directly
    assert gs.set_members(alpha.id, (), {beta.id, gamma.id}).group_ids == tuple(
        sorted((beta.id, gamma.id)))


def test_members_of_another_client_are_refused(gs, people, store, client_id, other_client_id):
    mine = add(people, client_id, "Mine")
    theirs = add(people, other_client_id, "Theirs")
    g = gs.create(client_id, "Ops")
    foreign_group = gs.create(other_client_id, "Their ops")
    gs.set_members(g.id, {mine}, ())
    before = group_rows(store)
    for stakeholders, groups, key in (({mine, theirs}, (), "stakeholders"),
                                      ({mine, 9999}, (), "stakeholders"),
                                      ((), {foreign_group.id}, "groups"),
                                      ((), {9999}, "groups")):
        with pytest.raises(ValidationError) as err:
            gs.set_members(g.id, stakeholders, groups)
        assert set(err.value.errors) == {key}
    assert gs.get(g.id).stakeholder_ids == (mine,)
    assert group_rows(store) == before
    with pytest.raises(NotFound):
        gs.set_members(9999, (), ())


# ---------------------------------------------------------------- delete / restore / cascade

def test_delete_and_restore_bring_back_id_name_and_members(gs, people, store, client_id, bus):
    a, b = add(people, client_id, "A"), add(people, client_id, "B")
    child = gs.create(client_id, "Child")
    g = gs.create(client_id, "Ops", "the ops team")
    gs.set_members(g.id, {a, b}, {child.id})
    snapshot = gs.delete(g.id)
    assert (snapshot.id, snapshot.name, snapshot.description, snapshot.stakeholder_ids,
            snapshot.group_ids) == (g.id, "Ops", "the ops team", (a, b), (child.id,))
    with pytest.raises(NotFound):
        gs.get(g.id)
    assert group_rows(store) == (1, 0)  # memberships cascade away; the child group stays
    restored = gs.restore(snapshot)
    assert restored == snapshot
    assert gs.get(g.id) == snapshot
    assert group_rows(store) == (2, 3)


def test_restore_keeps_only_members_that_still_exist(gs, people, client_id):
    a, b = add(people, client_id, "A"), add(people, client_id, "B")
    child = gs.create(client_id, "Child")
    g = gs.create(client_id, "Ops")
    gs.set_members(g.id, {a, b}, {child.id})
    snapshot = gs.delete(g.id)
    people.delete(b)
    gs.delete(child.id)
    restored = gs.restore(snapshot)
    assert (restored.id, restored.stakeholder_ids, restored.group_ids) == (g.id, (a,), ())


def test_deleting_a_nested_group_removes_it_from_its_parent(gs, client_id):
    parent, child = gs.create(client_id, "Parent"), gs.create(client_id, "Child")
    gs.set_members(parent.id, (), {child.id})
    gs.delete(child.id)
    assert gs.get(parent.id).group_ids == ()


def test_restoring_a_nested_group_puts_it_back_into_its_parent(gs, people, client_id):
    a = add(people, client_id, "A")
    parent, child = gs.create(client_id, "Parent"), gs.create(client_id, "Child")
    gs.set_members(child.id, {a}, ())
    gs.set_members(parent.id, (), {child.id})
    snapshot = gs.delete(child.id)
    gs.restore(snapshot, parents=(parent.id,))
    assert gs.get(parent.id).group_ids == (child.id,)


def test_deleting_a_stakeholder_removes_it_from_groups(gs, people, store, client_id):
    a, b = add(people, client_id, "A"), add(people, client_id, "B")
    g1, g2 = gs.create(client_id, "One"), gs.create(client_id, "Two")
    gs.set_members(g1.id, {a, b}, ())
    gs.set_members(g2.id, {a}, {g1.id})
    people.delete(a)
    assert gs.get(g1.id).stakeholder_ids == (b,)
    assert (gs.get(g2.id).stakeholder_ids, gs.get(g2.id).group_ids) == ((), (g1.id,))
    assert group_rows(store) == (2, 2)


# ---------------------------------------------------------------- pure: find_cycle / expand

def test_find_cycle_examples():
    assert find_cycle({}, 1, set()) is None
    assert find_cycle({}, 1, {1}) == [1, 1]
    assert find_cycle({2: {1}}, 1, {2}) == [1, 2, 1]
    assert find_cycle({2: {3}, 3: {1}}, 1, {2}) == [1, 2, 3, 1]
    assert find_cycle({2: {3}, 3: set()}, 1, {2}) is None
    # the group's old children are replaced, so an old edge back does not count
    assert find_cycle({1: {2}, 2: {3}}, 3, {4}) is None
    # an unrelated cycle elsewhere neither loops nor counts
    assert find_cycle({5: {6}, 6: {5}, 2: {5}}, 1, {2}) is None
    edges = {1: {2}}
    find_cycle(edges, 2, {1})
    assert edges == {1: {2}}  # pure: the input is not changed


def test_expand_examples():
    edges = {1: {2}, 2: {3}, 3: {1}, 4: set()}  # a cycle must not loop
    members = {1: {10}, 2: {20, 10}, 3: {30}, 4: {40}}
    assert expand(edges, members, {1}) == {10, 20, 30}
    assert expand(edges, members, {4}) == {40}
    assert expand(edges, members, set()) == set()
    assert expand(edges, members, {99}) == set()


def _acyclic(graph: dict[int, set[int]]) -> bool:
    """Kahn's algorithm: an independent oracle for "no cycle"."""
    nodes = set(graph) | {c for cs in graph.values() for c in cs}
    indegree = {n: 0 for n in nodes}
    for cs in graph.values():
        for c in cs:
            indegree[c] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    removed = 0
    while ready:
        n = ready.pop()
        removed += 1
        for c in graph.get(n, ()):
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    return removed == len(nodes)


def _reachable(graph: dict[int, set[int]], start: set[int]) -> set[int]:
    """Fix-point closure: another independent oracle."""
    reached = set(start)
    while True:
        more = {c for g in reached for c in graph.get(g, ())} - reached
        if not more:
            return reached
        reached |= more


@st.composite
def dags(draw) -> tuple[dict[int, set[int]], int]:
    n = draw(st.integers(1, 8))
    order = draw(st.permutations(range(n)))
    edges: dict[int, set[int]] = {g: set() for g in range(n)}
    for i in range(n):
        for j in range(i + 1, n):
            if draw(st.booleans()):
                edges[order[i]].add(order[j])
    return edges, n


FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(dags(), st.data())
def test_find_cycle_is_right_exactly_when_the_new_graph_has_a_cycle(dag, data):
    edges, n = dag
    group = data.draw(st.integers(0, n - 1))
    children = data.draw(st.sets(st.integers(0, n - 1), max_size=n))
    new_graph = {g: set(cs) for g, cs in edges.items()}
    new_graph[group] = set(children)
    cycle = find_cycle(edges, group, children)
    assert (cycle is None) == _acyclic(new_graph)
    if cycle is not None:
        assert cycle[0] == cycle[-1] == group and len(cycle) >= 2
        assert all(b in new_graph[a] for a, b in zip(cycle, cycle[1:]))


@FAST
@given(st.integers(1, 8).flatmap(lambda n: st.lists(
    st.tuples(st.integers(0, n - 1), st.sets(st.integers(0, n - 1), max_size=4)), max_size=20)))
def test_accepting_only_what_find_cycle_allows_keeps_the_graph_acyclic(proposals):
    graph: dict[int, set[int]] = {}
    for group, children in proposals:
        if find_cycle(graph, group, children) is None:
            graph[group] = set(children)
            assert _acyclic(graph)
        else:
            assert not _acyclic({**graph, group: set(children)})


@FAST
@given(dags(), st.data())
def test_expand_returns_the_members_of_every_reachable_group(dag, data):
    edges, n = dag
    members = data.draw(st.dictionaries(st.integers(0, n - 1),
                                        st.sets(st.integers(100, 120), max_size=4)))
    start = data.draw(st.sets(st.integers(0, n - 1), max_size=3))
    expected = set().union(*(members.get(g, set()) for g in _reachable(edges, start)))
    assert expand(edges, members, start) == expected


@FAST
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.dictionaries(st.integers(0, n - 1), st.sets(st.integers(0, n - 1), max_size=n)),
    st.dictionaries(st.integers(0, n - 1), st.sets(st.integers(100, 110), max_size=3)),
    st.sets(st.integers(0, n - 1), max_size=n))))
def test_expand_terminates_on_cyclic_graphs_too(case):
    edges, members, start = case
    expected = set().union(*(members.get(g, set()) for g in _reachable(edges, start)))
    assert expand(edges, members, start) == expected


# ---------------------------------------------------------------- choose_contact (pure)

def test_choose_contact_lowest_priority_number_wins():
    contacts = [("sms", "+12065550101", 2), ("email", "a@example.com", 1)]
    assert choose_contact(contacts, None, "sms") == ("email", "a@example.com")


def test_choose_contact_preferred_channel_breaks_a_tie():
    contacts = [("email", "a@example.com", 1), ("sms", "+12065550101", 1)]
    assert choose_contact(contacts, None, "sms") == ("sms", "+12065550101")
    assert choose_contact(contacts, None, "email") == ("email", "a@example.com")
    # no preference: deterministic whatever the input order
    assert choose_contact(contacts, None, None) == choose_contact(contacts[::-1], None, None)


def test_choose_contact_respects_the_channel_filter():
    contacts = [("email", "a@example.com", 1), ("sms", "+12065550101", 3),
                ("webhook", "https://hooks.example.com/x", 2)]
    assert choose_contact(contacts, {"sms"}, "email") == ("sms", "+12065550101")
    assert choose_contact(contacts, {"sms", "webhook"}, None) == (
        "webhook", "https://hooks.example.com/x")
    assert choose_contact(contacts, {"phone"}, None) is None
    assert choose_contact([], None, "email") is None


# ---------------------------------------------------------------- resolve_recipients

def E(address, priority=1):  # noqa: N802 - short builders for the map below
    return ContactPointData("email", address, priority)


def S(number, priority=1):  # noqa: N802
    return ContactPointData("sms", number, priority)


@pytest.fixture
def world(store, people, gs, client_id, other_client_id) -> dict[str, int]:
    """A small map: people of every timing need, nested groups, and another client."""
    ids = {
        "alice": add(people, client_id, "Alice", "it_staff_msp",  # immediate, technical
                     (E("alice@example.com"), S("(206) 555-0101", 2))),
        "bob": add(people, client_id, "Bob", "management", (S("(206) 555-0102"),)),  # rapid
        "carol": add(people, client_id, "Carol", "executives",  # when relevant
                     (E("carol@example.com"), S("(206) 555-0103")), preferred_channel="sms"),
        "dave": add(people, client_id, "Dave", "affected_users",  # immediate but inactive
                    (E("dave@example.com"),), active=False),
        "erin": add(people, client_id, "Erin", "media"),  # no contact point at all
        "frank": add(people, client_id, "Frank", "business_unit",  # rapid, webhook only
                     (ContactPointData("webhook", "https://hooks.example.com/frank"),)),
        "olga": add(people, other_client_id, "Olga", "it_staff_msp",
                    (E("olga@example.org"),)),
    }
    ops, team, inner = (gs.create(client_id, n).id for n in ("Ops", "Team", "Inner"))
    gs.set_members(inner, {ids["carol"]}, ())
    gs.set_members(team, {ids["bob"]}, {inner})
    gs.set_members(ops, {ids["alice"]}, {team})
    theirs = gs.create(other_client_id, "Their ops").id
    gs.set_members(theirs, {ids["olga"]}, ())
    ids.update(ops=ops, team=team, inner=inner, theirs=theirs)
    return ids


def names(result) -> list[str]:
    return [r.name for r in result.recipients]


def test_by_category(store, client_id, world):
    result = resolve_recipients(store, client_id, categories=["it_staff_msp"])
    assert [(r.stakeholder_id, r.category, r.detail_level, r.channel, r.address)
            for r in result.recipients] == [
        (world["alice"], "it_staff_msp", "technical", "email", "alice@example.com")]
    assert result.unreachable == ()


def test_by_timing_need_skips_the_inactive(store, client_id, world):
    assert names(resolve_recipients(store, client_id, timing_needs=["immediate"])) == ["Alice"]
    result = resolve_recipients(store, client_id, timing_needs=["rapid"])
    assert names(result) == ["Bob", "Frank"]
    assert resolve_recipients(store, client_id, timing_needs=["per_contract"]).recipients == ()


def test_by_group_nested_two_levels(store, client_id, world):
    assert names(resolve_recipients(store, client_id, group_ids=[world["ops"]])) == [
        "Alice", "Bob", "Carol"]
    assert names(resolve_recipients(store, client_id, group_ids=[world["team"]])) == [
        "Bob", "Carol"]
    assert names(resolve_recipients(store, client_id, group_ids=[world["inner"]])) == ["Carol"]


def test_hand_picked_and_unreachable_reason(store, client_id, world):
    result = resolve_recipients(store, client_id, stakeholder_ids=[world["erin"], world["frank"]])
    assert [(r.name, r.channel, r.address) for r in result.recipients] == [
        ("Frank", "webhook", "https://hooks.example.com/frank")]
    assert [(u.stakeholder_id, u.name) for u in result.unreachable] == [(world["erin"], "Erin")]
    assert "any channel" in result.unreachable[0].reason


def test_union_of_selectors_lists_each_person_once(store, client_id, world):
    result = resolve_recipients(
        store, client_id, categories=["it_staff_msp", "management"], timing_needs=["rapid"],
        group_ids=[world["ops"], world["inner"]],
        stakeholder_ids=[world["alice"], world["carol"]])
    assert names(result) == ["Alice", "Bob", "Carol", "Frank"]
    ids = [r.stakeholder_id for r in result.recipients]
    assert len(ids) == len(set(ids))


def test_inactive_people_are_skipped_even_when_picked(store, client_id, world):
    result = resolve_recipients(store, client_id, stakeholder_ids=[world["dave"]],
                                categories=["affected_users"])
    assert result.recipients == () and result.unreachable == ()


def test_channel_filter_picks_a_matching_contact_or_lists_the_person_unreachable(
        store, client_id, world):
    result = resolve_recipients(store, client_id, group_ids=[world["ops"]],
                                stakeholder_ids=[world["frank"]], channels=["sms"])
    assert [(r.name, r.channel, r.address) for r in result.recipients] == [
        ("Alice", "sms", "+12065550101"),  # her email (priority 1) is not allowed here
        ("Bob", "sms", "+12065550102"),
        ("Carol", "sms", "+12065550103")]
    assert [(u.name, u.reason) for u in result.unreachable] == [("Frank", "no contact point on sms")]

    result = resolve_recipients(store, client_id, stakeholder_ids=[world["bob"]],
                                channels=["email", "webhook"])
    assert result.recipients == ()
    assert "email" in result.unreachable[0].reason and "webhook" in result.unreachable[0].reason


def test_contact_choice_priority_then_preferred_channel(store, client_id, world):
    result = resolve_recipients(store, client_id, stakeholder_ids=[world["alice"], world["carol"]])
    assert [(r.name, r.channel) for r in result.recipients] == [
        ("Alice", "email"),  # priority 1 beats her sms at priority 2
        ("Carol", "sms")]    # two at priority 1: her preferred channel wins


def test_other_clients_are_never_included(store, client_id, other_client_id, world):
    result = resolve_recipients(store, client_id, stakeholder_ids=[world["olga"]],
                                group_ids=[world["theirs"]], categories=["it_staff_msp"],
                                timing_needs=["immediate"])
    assert names(result) == ["Alice"]
    assert world["olga"] not in {u.stakeholder_id for u in result.unreachable}
    assert names(resolve_recipients(store, other_client_id, categories=["it_staff_msp"])) == [
        "Olga"]
    assert names(resolve_recipients(store, other_client_id, group_ids=[world["ops"]])) == []


def test_no_selector_means_nobody(store, client_id, world):
    result = resolve_recipients(store, client_id)
    assert result.recipients == () and result.unreachable == ()


# ---------------------------------------------------------------- migration 0003

def _raw(store) -> sqlite3.Connection:
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def test_migration_0003_tables_and_columns_exist(store):
    conn = _raw(store)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"responsibilities", "groups", "group_members"} <= tables
        cols = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
                for t in ("clients", "stakeholders", "group_members", "groups")}
        assert {"notification_sla_minutes", "regimes"} <= cols["clients"]
        assert "preferred_channel" in cols["stakeholders"]
        assert {"group_id", "stakeholder_id", "member_group_id"} <= cols["group_members"]
        assert {"client_id", "name", "description"} <= cols["groups"]
    finally:
        conn.close()


def test_group_members_check_refuses_both_or_neither_kind(store, people, gs, client_id):
    a = add(people, client_id, "A")
    g1, g2 = gs.create(client_id, "One").id, gs.create(client_id, "Two").id
    conn = _raw(store)
    try:
        insert = "INSERT INTO group_members (group_id, stakeholder_id, member_group_id) VALUES (?,?,?)"
        for both_or_neither in ((g1, a, g2), (g1, None, None)):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
                conn.execute(insert, both_or_neither)
        assert conn.execute("SELECT count(*) FROM group_members").fetchone()[0] == 0
        conn.execute(insert, (g1, a, None))  # exactly one kind is fine
        conn.execute(insert, (g1, None, g2))
        assert conn.execute("SELECT count(*) FROM group_members").fetchone()[0] == 2
    finally:
        conn.close()
    assert gs.get(g1).stakeholder_ids == (a,) and gs.get(g1).group_ids == (g2,)


def test_upgrading_a_0002_database_keeps_clients_stakeholders_and_contacts(tmp_path):
    from app.storage import Store
    from app.storage.migrate import upgrade_to_head

    path = tmp_path / "old" / "clarion.db"
    old = Store(path)
    upgrade_to_head(old.engine, path, tmp_path / "backups", target="0002")
    old.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        now = datetime(2026, 3, 1, tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.execute("INSERT INTO clients (id, name, is_msp, created_at, time_zone, default_region)"
                     " VALUES (1, 'Old client', 0, ?, 'UTC', 'US')", (now,))
        conn.execute("INSERT INTO stakeholders (id, client_id, name, category, timing_need, "
                     "detail_level) VALUES (7, 1, 'Old timer', 'management', 'rapid', "
                     "'operational')")
        conn.execute("INSERT INTO contact_points (stakeholder_id, channel, address, priority) "
                     "VALUES (7, 'email', 'old@example.com', 1)")
    finally:
        conn.close()

    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        dto = StakeholderService(store, None).get(7)  # type: ignore[arg-type]
        assert (dto.name, dto.client_name, dto.preferred_channel) == ("Old timer", "Old client",
                                                                      None)
        assert dto.contacts == (ContactPointData("email", "old@example.com", 1),)
        from app.stakeholders.clients import list_clients

        (client,) = list_clients(store)
        assert (client.regimes, client.notification_sla_minutes) == ((), None)
    finally:
        store.dispose()
