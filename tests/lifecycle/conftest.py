"""Fixtures of the fund-lifecycle tests: an in-memory ledger with two pooling regions open
(Shenyang, the example policy, and Dalian, the same policy under another region code) and one
announcement of deposit rates chosen so that the daily rates are round numbers at the 360-day
basis of the policy:

    demand 0.36 %  -> 0.0036 / 360 = 0.00001 a day
    3-month 1.08 % -> 0.0108 / 360 = 0.00003 a day
    3-year 1.80 %  -> 0.0180 / 360 = 0.00005 a day
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.commands import AnnounceInterestRates
from ledger.policy import PolicyFile, load_policy_file

from .scenario import DALIAN, RATES_FROM, SHENYANG


def dalian_policy(base: PolicyFile | None = None) -> PolicyFile:
    return (base or load_policy_file()).model_copy(update={"region": DALIAN, "region_name": "Dalian"})


@pytest.fixture
def bare_ledger() -> Iterator[Ledger]:
    """Both regions open, no interest rates announced."""
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    policy = load_policy_file()
    assert policy.region == SHENYANG
    app.open_region(policy)
    app.open_region(dalian_policy(policy))
    yield app
    app.close()


@pytest.fixture
def ledger(bare_ledger: Ledger) -> Ledger:
    """Both regions open and the round-number rates announced from 1 January 2024."""
    bare_ledger.announce_interest_rates(AnnounceInterestRates("rates-2024", RATES_FROM, "0.0036", "0.0108", "0.0180"))
    return bare_ledger
