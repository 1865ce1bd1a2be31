"""Groups (distribution lists): named sets of stakeholders and other groups. Nesting is
allowed; a cycle (a group that would contain itself) is refused with the path that closes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import events as ev
from app.domain.dto import GroupDTO
from app.domain.models import Client, Group, GroupMember, Stakeholder
from app.errors import NotFound, ValidationError, too_long
from app.storage.engine import Store

from app.events import GROUPS_CHANGED  # noqa: E402,F401 - the topic, named here too


def find_cycle(edges: dict[int, set[int]], group_id: int, new_children: set[int]) -> list[int] | None:
    """If `group_id` took `new_children` as member groups, would some path lead back to it?
    Returns that path (group ids, starting and ending at group_id) or None. Pure."""
    graph = {g: set(children) for g, children in edges.items()}
    graph[group_id] = set(new_children)
    stack: list[tuple[int, list[int]]] = [(child, [group_id, child]) for child in new_children]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node == group_id:
            return path
        if node in seen:
            continue
        seen.add(node)
        for child in graph.get(node, ()):
            stack.append((child, path + [child]))
    return None


def expand(edges: dict[int, set[int]], members: dict[int, set[int]], group_ids: set[int]) -> set[int]:
    """Every stakeholder in the given groups, nested groups included. Pure; cycle-safe."""
    out: set[int] = set()
    seen: set[int] = set()
    todo = list(group_ids)
    while todo:
        gid = todo.pop()
        if gid in seen:
            continue
        seen.add(gid)
        out |= members.get(gid, set())
        todo.extend(edges.get(gid, ()))
    return out


def load_graph(session: Session, client_id: int | None = None
               ) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    """(group → member groups, group → member stakeholders) for one client or all."""
    stmt = select(GroupMember.group_id, GroupMember.member_group_id, GroupMember.stakeholder_id)
    if client_id is not None:
        stmt = stmt.join(Group, Group.id == GroupMember.group_id).where(Group.client_id == client_id)
    edges: dict[int, set[int]] = {}
    members: dict[int, set[int]] = {}
    for gid, child, sid in session.execute(stmt):
        if child is not None:
            edges.setdefault(gid, set()).add(child)
        if sid is not None:
            members.setdefault(gid, set()).add(sid)
    return edges, members


@dataclass
class GroupService:
    store: Store
    events: ev.EventBus = field(default_factory=ev.EventBus)

    def list(self, client_id: int) -> list[GroupDTO]:
        with self.store.session() as session:
            edges, members = load_graph(session, client_id)
            groups = session.scalars(select(Group).where(Group.client_id == client_id)
                                     .order_by(Group.name))
            return [GroupDTO(id=g.id, client_id=g.client_id, name=g.name,
                             description=g.description,
                             stakeholder_ids=tuple(sorted(members.get(g.id, ()))),
                             group_ids=tuple(sorted(edges.get(g.id, ()))))
                    for g in groups]

    def get(self, group_id: int) -> GroupDTO:
        with self.store.session() as session:
            group = session.get(Group, group_id)
            if group is None:
                raise NotFound(f"Group {group_id} does not exist.")
            client_id = group.client_id
        return next(g for g in self.list(client_id) if g.id == group_id)

    def create(self, client_id: int, name: str, description: str = "",
               group_id: int | None = None) -> GroupDTO:
        clean = self._clean_name(name)
        with self.store.session() as session, session.begin():
            if session.get(Client, client_id) is None:
                raise ValidationError({"client": "Choose an organisation."})
            self._refuse_duplicate(session, client_id, clean, None)
            group = Group(id=group_id, client_id=client_id, name=clean,
                          description=description.strip())
            session.add(group)
            session.flush()
            new_id = group.id
        self.events.publish(GROUPS_CHANGED, client_id)
        return self.get(new_id)

    def rename(self, group_id: int, name: str, description: str | None = None) -> GroupDTO:
        clean = self._clean_name(name)
        with self.store.session() as session, session.begin():
            group = self._load(session, group_id)
            self._refuse_duplicate(session, group.client_id, clean, group_id)
            group.name = clean
            if description is not None:
                group.description = description.strip()
            client_id = group.client_id
        self.events.publish(GROUPS_CHANGED, client_id)
        return self.get(group_id)

    def set_members(self, group_id: int, stakeholder_ids: set[int] | tuple[int, ...],
                    group_ids: set[int] | tuple[int, ...]) -> GroupDTO:
        """Replace the members. Stakeholders and groups must belong to the group's client;
        a member group that would (through any nesting) contain this group is refused."""
        stakeholder_ids, group_ids = set(stakeholder_ids), set(group_ids)
        with self.store.session() as session, session.begin():
            group = self._load(session, group_id)
            names = dict(session.execute(select(Group.id, Group.name)
                                         .where(Group.client_id == group.client_id)).all())
            foreign = group_ids - set(names)
            if foreign:
                raise ValidationError({"groups": "A member group belongs to another organisation "
                                                 "or no longer exists."})
            if group_id in group_ids:
                raise ValidationError({"groups": f"“{group.name}” cannot contain itself."})
            edges, _members = load_graph(session, group.client_id)
            cycle = find_cycle(edges, group_id, group_ids)
            if cycle:
                path = " → ".join(names[g] for g in cycle)
                raise ValidationError({"groups": f"That would make a cycle: {path}."})
            valid = set(session.scalars(select(Stakeholder.id).where(
                Stakeholder.client_id == group.client_id, Stakeholder.id.in_(stakeholder_ids))))
            if valid != stakeholder_ids:
                raise ValidationError({"stakeholders": "A member belongs to another organisation "
                                                       "or no longer exists."})
            session.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
            session.add_all([GroupMember(group_id=group_id, stakeholder_id=s)
                             for s in sorted(stakeholder_ids)])
            session.add_all([GroupMember(group_id=group_id, member_group_id=g)
                             for g in sorted(group_ids)])
            client_id = group.client_id
        self.events.publish(GROUPS_CHANGED, client_id)
        return self.get(group_id)

    def delete(self, group_id: int) -> GroupDTO:
        snapshot = self.get(group_id)
        with self.store.session() as session, session.begin():
            session.delete(self._load(session, group_id))
        self.events.publish(GROUPS_CHANGED, snapshot.client_id)
        return snapshot

    def parents_of(self, group_id: int) -> tuple[int, ...]:
        """The groups that contain this one directly."""
        with self.store.session() as session:
            return tuple(sorted(session.scalars(select(GroupMember.group_id).where(
                GroupMember.member_group_id == group_id))))

    def restore(self, snapshot: GroupDTO, parents: tuple[int, ...] = ()) -> GroupDTO:
        """Undo a delete: same id, name, members (those that still exist), and its place in
        the `parents` groups that contained it (see parents_of, taken before the delete)."""
        self.create(snapshot.client_id, snapshot.name, snapshot.description, group_id=snapshot.id)
        with self.store.session() as session:
            existing_s = set(session.scalars(select(Stakeholder.id).where(
                Stakeholder.id.in_(snapshot.stakeholder_ids))))
            existing_g = set(session.scalars(select(Group.id).where(
                Group.id.in_(snapshot.group_ids))))
        restored = self.set_members(snapshot.id, existing_s, existing_g)
        for parent_id in parents:
            try:
                parent = self.get(parent_id)
            except NotFound:
                continue
            self.set_members(parent_id, parent.stakeholder_ids,
                             set(parent.group_ids) | {snapshot.id})
        return restored

    # -- internals

    @staticmethod
    def _clean_name(name: str) -> str:
        clean = " ".join((name or "").split())
        if not clean:
            raise ValidationError({"name": "Give the group a name."})
        if len(clean) > 200:
            raise ValidationError({"name": too_long("A group name", 200, len(clean))})
        return clean

    @staticmethod
    def _refuse_duplicate(session: Session, client_id: int, name: str, own_id: int | None) -> None:
        clash = session.scalar(select(Group.id).where(Group.client_id == client_id,
                                                      Group.name == name))
        if clash is not None and clash != own_id:
            raise ValidationError({"name": f"There is already a group called “{name}”."})

    @staticmethod
    def _load(session: Session, group_id: int) -> Group:
        group = session.get(Group, group_id)
        if group is None:
            raise NotFound(f"Group {group_id} does not exist.")
        return group
