"""One wording of a length limit (issue 17): the number a check enforces is the number its message
says — "at most N" where N itself is allowed — everywhere a length is checked."""

from __future__ import annotations

import pytest

from app.errors import too_long


def test_the_wording_says_the_limit_and_the_length():
    assert too_long("A title", 200, 10_000) == (
        "A title is at most 200 characters; this one has 10,000.")


@pytest.mark.parametrize("limit", [200])
def test_a_stakeholder_name_of_the_limit_is_taken_and_one_more_is_refused_by_that_number(
        store, frozen_clock, client_id, limit):
    from app.domain.dto import StakeholderData
    from app.errors import ValidationError
    from app.stakeholders.service import NAME_MAX, StakeholderService

    assert NAME_MAX == limit
    svc = StakeholderService(store, frozen_clock)
    svc.create(StakeholderData(client_id=client_id, name="N" * limit,
                               category="affected_users"))
    with pytest.raises(ValidationError) as refused:
        svc.create(StakeholderData(client_id=client_id, name="N" * (limit + 1),
                                   category="affected_users"))
    assert refused.value.errors["name"] == (
        f"The name is at most {limit} characters; this one has {limit + 1}.")
