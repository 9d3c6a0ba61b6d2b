"""Cross-region direct settlement (DOMAIN "Moving and dying", seed 000 Beijing-Tianjin-Hebei): a
Shenyang insured treated in Dalian is settled under Shenyang's policy, against the person's
Shenyang account, ceiling and admission count; Dalian owes its hospital and Shenyang owes Dalian,
until the clearing between the two funds is settled.

Dalian's policy here differs from Shenyang's (higher deductibles, higher ceiling) so that a bill
settled under the wrong policy shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import (
    AnnounceInterestRates,
    CloseYear,
    RecordIncome,
    SettleClearing,
    SettleCrossRegion,
    SettleInpatient,
)
from ledger.errors import InvalidInput, PeriodClosed
from ledger.policy import load_policy_file

from .scenario import DALIAN, SHENYANG, TO_ACCOUNT_FEN, balances, enrol, event_count, fund_expenditure_account, remit


@pytest.fixture
def regions() -> Iterator[Ledger]:
    """Shenyang under the example policy; Dalian with level-3 deductibles of 1,000 / 800 / 600 /
    400 yuan and a ceiling of 50,000 yuan. P1 of Shenyang has 28,000 fen in the account and the
    Shenyang pooled fund a fiscal subsidy of 1,000,000 fen in its income account."""
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    shenyang = load_policy_file()
    dalian_version = shenyang.versions[0].model_copy(update={
        "deductible_fen_by_level": {"3": [100_000, 80_000, 60_000, 40_000], "2": [90_000, 70_000, 50_000, 30_000],
                                    "1": [80_000, 60_000, 40_000, 20_000]},
        "annual_ceiling_fen": 5_000_000,
    })
    app.open_region(shenyang)
    app.open_region(shenyang.model_copy(update={"region": DALIAN, "region_name": "Dalian", "versions": [dalian_version]}))
    app.announce_interest_rates(AnnounceInterestRates("rates-2024", date(2024, 1, 1), "0.0036", "0.0108", "0.0180"))
    enrol(app, "P1")
    remit(app, "R-2024-02", "P1", date(2024, 2, 1))
    app.record_income(RecordIncome(SHENYANG, "FS-1", "pooled", "fiscal_subsidy", 1_000_000, date(2024, 2, 2)))
    yield app
    app.close()


def treated_in_dalian(claim_id: str = "X-1", total_cost_fen: int = 500_000) -> SettleCrossRegion:
    return SettleCrossRegion(DALIAN, SHENYANG, claim_id, "P1", 3, date(2024, 8, 1), date(2024, 8, 5), total_cost_fen)


def test_the_bill_is_settled_under_the_home_regions_policy(regions: Ledger) -> None:
    outcome = regions.settle_cross_region(treated_in_dalian())
    # Shenyang's policy, level 3, first admission: deductible 70,000 (Dalian's would be 100,000);
    # 500,000 - 70,000 = 430,000 in the first band: patient 20 % = 86,000, pooled 344,000.
    # The patient's 70,000 + 86,000 = 156,000: the Shenyang account pays its 28,000, the rest is out of pocket.
    assert (outcome["deductible_fen"], outcome["copay_fen"], outcome["pooled_fen"]) == (70_000, 86_000, 344_000)
    assert (outcome["account_fen"], outcome["out_of_pocket_fen"]) == (TO_ACCOUNT_FEN, 156_000 - TO_ACCOUNT_FEN)
    assert outcome["treating_region"] == DALIAN
    assert regions.personal_account(SHENYANG, "P1").balance_fen == 0
    assert regions.pooled_fund(SHENYANG).balance_fen == 52_000 + 1_000_000 - 344_000


def test_the_treating_regions_receivable_equals_the_home_regions_payable(regions: Ledger) -> None:
    regions.settle_cross_region(treated_in_dalian())
    owed = TO_ACCOUNT_FEN + 344_000  # what the funds pay: the account's 28,000 and the pooled 344,000
    dalian, shenyang = balances(regions, DALIAN), balances(regions, SHENYANG)
    assert dalian[acc.region_clearing_account(SHENYANG)] == owed  # debit: Shenyang owes Dalian
    assert dalian[acc.PAYABLE_HOSPITALS] == -owed  # Dalian owes its hospital
    assert shenyang[acc.region_clearing_account(DALIAN)] == -owed  # credit: Shenyang owes Dalian
    assert regions.clearing_owed_fen(DALIAN, SHENYANG) == owed
    assert regions.clearing_owed_fen(SHENYANG, DALIAN) == 0
    assert sum(dalian.values()) == 0 and sum(shenyang.values()) == 0


def test_a_cross_region_admission_counts_with_the_home_admissions(regions: Ledger) -> None:
    home = regions.settle_inpatient(SettleInpatient(SHENYANG, "H-1", "P1", 3, date(2024, 3, 1), date(2024, 3, 5), 100_000))
    assert home["deductible_fen"] == 70_000
    away = regions.settle_cross_region(treated_in_dalian())
    # Second admission of the year at Shenyang's level 3: deductible 50,000 (Dalian's would be 80,000);
    # 450,000 above it: patient 90,000, pooled 360,000. The account was emptied by the first stay.
    assert (away["admission_number"], away["deductible_fen"], away["copay_fen"], away["pooled_fen"]) == (2, 50_000, 90_000, 360_000)
    assert away["account_fen"] == 0
    assert regions.clearing_owed_fen(DALIAN, SHENYANG) == 360_000
    third = regions.settle_inpatient(SettleInpatient(SHENYANG, "H-3", "P1", 3, date(2024, 9, 1), date(2024, 9, 5), 100_000))
    assert (third["admission_number"], third["deductible_fen"]) == (3, 40_000)


def test_a_cross_region_bill_is_held_to_the_home_persons_annual_ceiling(regions: Ledger) -> None:
    # At home first: 3,070,000 fen; after the 70,000 deductible, bands of 1,000,000 at 20 %, 15 %, 10 %:
    # pooled 800,000 + 850,000 + 900,000 = 2,550,000 of Shenyang's 2,800,000 ceiling; 250,000 left.
    # Another fiscal subsidy of 2,000,000 lets Shenyang's pooled fund pay both.
    regions.record_income(RecordIncome(SHENYANG, "FISCAL-2", "pooled", "fiscal_subsidy", 2_000_000, date(2024, 2, 20)))
    home = regions.settle_inpatient(SettleInpatient(SHENYANG, "H-1", "P1", 3, date(2024, 3, 1), date(2024, 3, 5), 3_070_000))
    assert home["pooled_fen"] == 2_550_000
    away = regions.settle_cross_region(treated_in_dalian())
    # Second admission: deductible 50,000, 450,000 in the first band at 20 %. Pooled would be 360,000,
    # but only 250,000 is left: the cost covered is 250,000 ÷ 0.8 = 312,500 (patient 62,500), and
    # 450,000 - 312,500 = 137,500 is above the ceiling. Under Dalian's 5,000,000 ceiling it would pay 360,000.
    assert (away["pooled_fen"], away["copay_fen"], away["above_ceiling_fen"]) == (250_000, 62_500, 137_500)
    assert regions.personal_account(SHENYANG, "P1").pooled_paid_in(2024) == 2_800_000


def test_settling_the_clearing_moves_money_between_the_regions_banks_and_reduces_what_is_owed(regions: Ledger) -> None:
    regions.settle_cross_region(treated_in_dalian())
    owed = 372_000
    fund_expenditure_account(regions, 200_000, date(2024, 9, 1))
    outcome = regions.settle_clearing(SettleClearing("CL-1", SHENYANG, DALIAN, 200_000, date(2024, 9, 2)))
    assert (outcome["amount_fen"], outcome["still_owed_fen"]) == (200_000, owed - 200_000)
    assert regions.clearing_owed_fen(DALIAN, SHENYANG) == 172_000
    assert regions.bank_balances(SHENYANG)[acc.BANK_EXPENDITURE] == 0  # 200,000 in, 200,000 out
    assert regions.bank_balances(DALIAN) == {acc.BANK_INCOME: 200_000}
    assert balances(regions, DALIAN)[acc.region_clearing_account(SHENYANG)] == 172_000
    assert balances(regions, SHENYANG)[acc.region_clearing_account(DALIAN)] == -172_000


def test_settling_more_than_is_owed_is_refused(regions: Ledger) -> None:
    regions.settle_cross_region(treated_in_dalian())
    fund_expenditure_account(regions, 400_000, date(2024, 9, 1))
    recorded = event_count(regions)
    with pytest.raises(InvalidInput) as error:
        regions.settle_clearing(SettleClearing("CL-1", SHENYANG, DALIAN, 372_001, date(2024, 9, 2)))
    assert error.value.field == "amount_fen"
    assert error.value.context["owed_fen"] == 372_000
    with pytest.raises(InvalidInput):  # Dalian owes Shenyang nothing
        regions.settle_clearing(SettleClearing("CL-2", DALIAN, SHENYANG, 1, date(2024, 9, 2)))
    assert event_count(regions) == recorded
    assert regions.clearing_owed_fen(DALIAN, SHENYANG) == 372_000


def test_a_duplicate_cross_region_claim_returns_the_first_outcome_and_adds_nothing_owed(regions: Ledger) -> None:
    first = regions.settle_cross_region(treated_in_dalian())
    recorded = event_count(regions)
    assert regions.settle_cross_region(treated_in_dalian()) == {**first, "duplicate": True}
    assert event_count(regions) == recorded
    assert regions.clearing_owed_fen(DALIAN, SHENYANG) == 372_000


def test_a_cross_region_bill_dated_in_the_treating_regions_closed_year_is_refused(regions: Ledger) -> None:
    regions.close_year(CloseYear(DALIAN, 2024))
    with pytest.raises(PeriodClosed) as error:
        regions.settle_cross_region(treated_in_dalian())
    assert error.value.field == "discharged_on"
