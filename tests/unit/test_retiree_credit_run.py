"""Retirees' account credits that do not depend on a former employer's remittance (Liao 1999
§II(6): retirees pay nothing; the share credited to their accounts is higher than employees'):
where the region's policy says ``retiree_credit.funded_by = "monthly_run"``, a monthly run credits
every retiree of the region from the pooled fund, once per person and month.

Credits (shipped rule): 4.3% of last year's average monthly wage (58,333 fen) under 70 =
2,508.32 -> 2,508 fen; 4.8% from 70 = 2,799.98 -> 2,800 fen; age on the first day of the month.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import CreditRetirees, Enrol, RecordDeath
from ledger.errors import InvalidInput, PolicyError, PooledFundShortfall
from ledger.policy import PolicyFile, load_policy_file

from .builders import REGION, enrol, event_count, fiscal_subsidy, remittance


def monthly_run_region(subsidy_fen: int = 1_000_000) -> Ledger:
    shipped = load_policy_file()
    parameters = shipped.versions[0].model_dump(mode="json")
    parameters["retiree_credit"]["funded_by"] = "monthly_run"
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region=REGION, region_name="monthly run", versions=[parameters]))  # type: ignore[list-item]
    enrol(app, "P1", birth_date=date(1990, 3, 15))
    enrol(app, "R1", "retiree", birth_date=date(1950, 6, 1))  # 73 in 2024
    enrol(app, "R2", "retiree", birth_date=date(1954, 8, 1))  # 70 on 1 August 2024
    if subsidy_fen:
        fiscal_subsidy(app, subsidy_fen)
    return app


def balance(ledger: Ledger, person_id: str) -> int:
    return ledger.personal_account(REGION, person_id).balance_fen


def test_the_monthly_run_credits_every_retiree_of_the_region_from_the_pooled_fund() -> None:
    ledger = monthly_run_region()
    outcome = ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 25)))
    # R1 (73): 2,800; R2 (69 on 1 March): 2,508; P1 is an employee. Total 5,308 from the pooled fund.
    assert (outcome["retirees_credited"], outcome["credited_fen"]) == (2, 5_308)
    assert [balance(ledger, p) for p in ("P1", "R1", "R2")] == [0, 2_800, 2_508]
    assert ledger.pooled_fund(REGION).balance_fen == 1_000_000 - 5_308
    assert sum(ledger.trial_balance().values()) == 0


def test_the_run_is_idempotent_per_person_and_month() -> None:
    ledger = monthly_run_region()
    ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 25)))
    recorded = event_count(ledger)
    again = ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 28)))
    assert (again["retirees_credited"], again["credited_fen"], again["already_credited"]) == (0, 0, 2)
    assert event_count(ledger) == recorded
    ledger.enrol(Enrol(REGION, "R3", "retiree", date(1958, 1, 1), "E1", date(2024, 3, 1)))  # 66: 2,508
    late = ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 30)))
    assert (late["retirees_credited"], late["credited_fen"]) == (1, 2_508)
    assert [balance(ledger, p) for p in ("R1", "R2", "R3")] == [2_800, 2_508, 2_508]


def test_the_band_follows_the_age_on_the_first_day_of_the_month() -> None:
    # R2 turns 70 on 1 August 2024: July 2,508, August 2,800.
    ledger = monthly_run_region()
    ledger.credit_retirees(CreditRetirees(REGION, "2024-07", date(2024, 7, 25)))
    ledger.credit_retirees(CreditRetirees(REGION, "2024-08", date(2024, 8, 25)))
    assert balance(ledger, "R2") == 2_508 + 2_800


def test_a_retiree_enrolled_after_the_month_or_deceased_is_not_credited() -> None:
    ledger = monthly_run_region()
    ledger.record_death(RecordDeath(REGION, "R1", date(2024, 2, 10), "heirs"))
    ledger.enrol(Enrol(REGION, "R4", "retiree", date(1950, 1, 1), "E1", date(2024, 4, 2)))
    outcome = ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 25)))
    assert (outcome["retirees_credited"], outcome["credited_fen"]) == (1, 2_508)  # R2 only


def test_where_retirees_are_credited_by_the_run_a_remittance_line_for_one_is_refused() -> None:
    ledger = monthly_run_region()
    with pytest.raises(InvalidInput) as error:
        ledger.post_remittance(remittance("R-01", {"P1": 800_000, "R1": None}, 64_000))
    assert error.value.field == "lines[1].person_id"
    assert "monthly" in error.value.reason


def test_a_run_the_pooled_fund_cannot_pay_is_refused_and_credits_nobody() -> None:
    ledger = monthly_run_region(subsidy_fen=0)
    with pytest.raises(PooledFundShortfall) as error:
        ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 25)))
    assert error.value.context["shortfall_fen"] == 5_308
    assert balance(ledger, "R1") == 0


def test_a_region_whose_retirees_are_credited_by_remittances_refuses_the_run(ledger: Ledger) -> None:
    with pytest.raises(PolicyError) as error:
        ledger.credit_retirees(CreditRetirees(REGION, "2024-03", date(2024, 3, 25)))
    assert error.value.field == "period"


def test_the_seed_terms_example_credits_its_retirees_by_a_monthly_run() -> None:
    from ledger.policy import SEED_TERMS_POLICY_FILE

    [version] = load_policy_file(SEED_TERMS_POLICY_FILE).versions
    assert version.retiree_credit.funded_by == "monthly_run"
