"""Hub group names: one per source group, <prefix>-<group>, always a valid and distinct SageMaker group name."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from modelrelay.config import GROUP_NAME_PATTERN
from modelrelay.domain.hub import hub_group_name

NAMES = st.from_regex(r"\A[a-zA-Z0-9](-?[a-zA-Z0-9]){0,62}\Z")


def test_a_short_name_is_the_prefix_and_the_source_group() -> None:
    assert hub_group_name("modelrelay-hub", "housing-newyork-ny") == "modelrelay-hub-housing-newyork-ny"


@given(prefix=NAMES, first=NAMES, second=NAMES)
def test_every_name_is_valid_and_two_source_groups_never_share_one(prefix: str, first: str, second: str) -> None:
    one, other = hub_group_name(prefix, first), hub_group_name(prefix, second)
    assert re.match(GROUP_NAME_PATTERN, one) and len(one) <= 63
    assert (one == other) == (first == second)
