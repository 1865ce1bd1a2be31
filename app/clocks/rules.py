"""The editable rules behind the incident clocks: each client's update cadence per severity
(absent rows mean the defaults in resources/cadence) and the escalation rule table (seeded with
resources/escalation/defaults.json by migration 0007)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import events as ev
from app.clocks.cadence import CadencePolicy, load_default_policies, validate_policy
from app.clocks.escalation import (
    EscalationRule,
    rule_from_dict,
    rule_to_dict,
    validate_rule,
)
from app.domain.enums import Severity
from app.domain.models import CadencePolicyRow, Client, EscalationRuleRow
from app.errors import NotFound, ValidationError
from app.storage.engine import Store

POLICY_FIELDS = ("acknowledge_minutes", "investigating_minutes", "responding_minutes",
                 "resolution_minutes", "summary_hours", "fact_update_minutes")


def _policy(row: CadencePolicyRow) -> CadencePolicy:
    return CadencePolicy(severity=Severity(row.severity),
                         **{name: getattr(row, name) for name in POLICY_FIELDS})


class ClockRules:
    def __init__(self, store: Store, events: ev.EventBus | None = None) -> None:
        self.store = store
        self.events = events or ev.EventBus()

    # ---------------------------------------------------------------- cadence

    def policies_for(self, session: Session, client_ids: Iterable[int],
                     ) -> dict[tuple[int, Severity], CadencePolicy]:
        client_ids = set(client_ids)
        defaults = load_default_policies()
        out = {(cid, sev): defaults[sev] for cid in client_ids for sev in Severity}
        if client_ids:
            for row in session.scalars(select(CadencePolicyRow).where(
                    CadencePolicyRow.client_id.in_(client_ids))):
                out[(row.client_id, Severity(row.severity))] = _policy(row)
        return out

    def policies(self, client_id: int) -> list[tuple[CadencePolicy, bool]]:
        """The client's cadence per severity, SEV1 first, each with whether it was customised."""
        with self.store.session() as session:
            custom = {Severity(r.severity): _policy(r) for r in session.scalars(
                select(CadencePolicyRow).where(CadencePolicyRow.client_id == client_id))}
        defaults = load_default_policies()
        return [(custom.get(sev, defaults[sev]), sev in custom) for sev in Severity]

    def save_policy(self, client_id: int, values: Mapping[str, object]) -> CadencePolicy:
        policy, errors = validate_policy(values)
        if errors or policy is None:
            raise ValidationError(errors or {"severity": "Choose a severity."})
        with self.store.session() as session, session.begin():
            if session.get(Client, client_id) is None:
                raise NotFound(f"Organisation {client_id} does not exist.")
            row = session.scalars(select(CadencePolicyRow).where(
                CadencePolicyRow.client_id == client_id,
                CadencePolicyRow.severity == policy.severity.value)).first()
            if row is None:
                row = CadencePolicyRow(client_id=client_id, severity=policy.severity.value)
                session.add(row)
            for name in POLICY_FIELDS:
                setattr(row, name, getattr(policy, name))
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)
        return policy

    def reset_policy(self, client_id: int, severity: Severity) -> CadencePolicy:
        with self.store.session() as session, session.begin():
            session.execute(delete(CadencePolicyRow).where(
                CadencePolicyRow.client_id == client_id,
                CadencePolicyRow.severity == Severity(severity).value))
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)
        return load_default_policies()[Severity(severity)]

    # ---------------------------------------------------------------- escalation rules

    def escalation_rules(self) -> list[EscalationRule]:
        with self.store.session() as session:
            rows = session.execute(select(EscalationRuleRow.definition).order_by(
                EscalationRuleRow.position, EscalationRuleRow.id)).scalars().all()
        rules = []
        for definition in rows:
            try:
                rules.append(rule_from_dict(definition))
            except (KeyError, ValueError, TypeError, ValidationError):
                continue  # a row this version cannot read is skipped, never fatal
        return rules

    def save_rule(self, values: Mapping[str, object],
                  original_key: str | None = None) -> EscalationRule:
        """Add a rule (original_key None) or replace the rule original_key with these values."""
        rule, errors = validate_rule(values)
        if errors or rule is None:
            raise ValidationError(errors or {"name": "The rule is incomplete."})
        with self.store.session() as session, session.begin():
            clash = session.scalars(select(EscalationRuleRow).where(
                EscalationRuleRow.key == rule.key)).first()
            if original_key is None:
                if clash is not None:
                    raise ValidationError({"key": f"A rule “{rule.key}” exists already."})
                position = session.scalar(select(func.max(EscalationRuleRow.position)))
                session.add(EscalationRuleRow(key=rule.key, position=(position or 0) + 1,
                                              definition=rule_to_dict(rule)))
            else:
                row = session.scalars(select(EscalationRuleRow).where(
                    EscalationRuleRow.key == original_key)).first()
                if row is None:
                    raise NotFound("That rule was deleted meanwhile.")
                if clash is not None and clash.id != row.id:
                    raise ValidationError({"key": f"A rule “{rule.key}” exists already."})
                row.key, row.definition = rule.key, rule_to_dict(rule)
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)
        return rule

    def delete_rule(self, key: str) -> tuple[EscalationRule, int]:
        """Delete a rule; returns it and its position so an undo can put it back."""
        with self.store.session() as session, session.begin():
            row = session.scalars(select(EscalationRuleRow).where(
                EscalationRuleRow.key == key)).first()
            if row is None:
                raise NotFound("That rule was deleted meanwhile.")
            rule, position = rule_from_dict(row.definition), row.position
            session.delete(row)
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)
        return rule, position

    def restore_rule(self, rule: EscalationRule, position: int) -> None:
        """Put back a rule delete_rule returned (an undo). Refused, as save_rule refuses it, when
        a rule with its key was created meanwhile."""
        with self.store.session() as session, session.begin():
            if session.scalars(select(EscalationRuleRow.id).where(
                    EscalationRuleRow.key == rule.key)).first() is not None:
                raise ValidationError({"key": f"A rule “{rule.key}” exists already."})
            session.add(EscalationRuleRow(key=rule.key, position=position,
                                          definition=rule_to_dict(rule)))
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)

    def set_enabled(self, key: str, enabled: bool) -> EscalationRule:
        with self.store.session() as session, session.begin():
            row = session.scalars(select(EscalationRuleRow).where(
                EscalationRuleRow.key == key)).first()
            if row is None:
                raise NotFound("That rule was deleted meanwhile.")
            rule = replace(rule_from_dict(row.definition), enabled=enabled)
            row.definition = rule_to_dict(rule)
        self.events.publish(ev.CLOCK_RULES_CHANGED, None)
        return rule
