"""Late payments (补缴) with their late fee (滞纳金), and corrections of lines recorded on the wrong
wage base: the two ways a period already due or already paid is paid again (issue 10, error 3).

Shipped policy: contributions for a month are due by the 15th of the following month; a late fee
of 0.05% a day of the amount overdue (Social Insurance Law art. 86), the pooled fund's other
income. P1 (E1, born 1990-03-15, under 35), wage 800,000 fen: 2% = 16,000 + 6% = 48,000 ->
64,000 owed; the account gets 16,000 + 0.8% = 6,400 = 22,400; the pooled fund 41,600.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import CorrectContributions, MoveBetweenBankAccounts, PostLatePayment, RemittanceLine
from ledger.errors import DeclaredTotalMismatch, DuplicateContribution, InvalidInput, LateContribution

from .builders import REGION, enrol, event_count, remittance


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    return ledger


def late_payment(remittance_id: str, received_on: date, late_fee_fen: int, period: str = "2024-03") -> PostLatePayment:
    ordinary = remittance(remittance_id, {"P1": 800_000}, 64_000, period=period)
    return PostLatePayment(**{**ordinary.__dict__, "received_on": received_on, "late_fee_fen": late_fee_fen})


def correction(correction_id: str, wage_fen: int, difference_fen: int, received_on: date, late_fee_fen: int = 0,
               remittance_id: str = "R-2024-03") -> CorrectContributions:
    return CorrectContributions(REGION, correction_id, remittance_id, "employer", "E1", "2024-03", received_on, difference_fen,
                                (RemittanceLine("P1", wage_fen),), late_fee_fen)


def balance(ledger: Ledger, person_id: str) -> int:
    return ledger.personal_account(REGION, person_id).balance_fen


def trial(ledger: Ledger) -> dict[str, int]:
    return ledger.trial_balance()


# --------------------------------------------------------------------------- late payments


def test_a_remittance_received_after_its_due_date_is_refused_naming_the_late_fee_it_owes(people: Ledger) -> None:
    # 2024-03 is due on 2024-04-15; received 2024-05-10: 15 days of April + 10 of May = 25 days late;
    # late fee 64,000 × 25 × 0.0005 = 800 fen.
    recorded = event_count(people)
    late = replace(remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03"), received_on=date(2024, 5, 10))
    with pytest.raises(LateContribution) as error:
        people.post_remittance(late)
    assert (error.value.code, error.value.field) == ("late_contribution", "received_on")
    assert (error.value.context["days_late"], error.value.context["late_fee_fen"]) == (25, 800)
    assert "2024-04-15" in error.value.reason and "800 fen" in error.value.reason
    assert event_count(people) == recorded


def test_a_remittance_received_on_its_due_date_is_on_time(people: Ledger) -> None:
    on_time = replace(remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03"), received_on=date(2024, 4, 15))
    assert people.post_remittance(on_time)["total_fen"] == 64_000


def test_a_late_payment_credits_the_month_and_books_its_late_fee_as_other_income(people: Ledger) -> None:
    # 25 days late, fee 800 fen: the income account receives 64,000 + 800 = 64,800; P1 22,400; the
    # pooled fund 41,600 contributions + 800 other income = 42,400.
    outcome = people.post_late_payment(late_payment("LATE-2024-03", date(2024, 5, 10), 800))
    assert (outcome["total_fen"], outcome["days_late"], outcome["late_fee_fen"]) == (64_000, 25, 800)
    assert balance(people, "P1") == 22_400
    assert people.personal_account(REGION, "P1").contribution_months == 1
    assert people.pooled_fund(REGION).balance_fen == 42_400
    books = trial(people)
    assert books[acc.BANK_INCOME] == 64_800
    pooled_income = {item: amount for (fund, item, side), amount in acc.income_and_expenditure(
        p for _, e in people.stored_events() for p in getattr(e, "postings", ())).items() if fund == acc.FUND_POOLED and side == "in"}
    assert pooled_income == {acc.INCOME_CONTRIBUTION: 41_600, acc.INCOME_OTHER: 800}


def test_a_late_payment_with_the_wrong_late_fee_is_refused_by_how_much(people: Ledger) -> None:
    with pytest.raises(DeclaredTotalMismatch) as error:
        people.post_late_payment(late_payment("LATE-2024-03", date(2024, 5, 10), 799))
    assert (error.value.field, error.value.context["difference_fen"], error.value.context["computed_late_fee_fen"]) == (
        "late_fee_fen", -1, 800)
    assert balance(people, "P1") == 0


def test_a_late_payment_that_is_not_late_is_refused(people: Ledger) -> None:
    with pytest.raises(LateContribution) as error:
        people.post_late_payment(late_payment("LATE-2024-03", date(2024, 4, 15), 0))
    assert error.value.field == "received_on"
    assert "not late" in error.value.reason


def test_a_late_payment_for_a_month_already_paid_is_refused_naming_the_first(people: Ledger) -> None:
    people.post_remittance(remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03"))
    with pytest.raises(DuplicateContribution) as error:
        people.post_late_payment(late_payment("LATE-2024-03", date(2024, 5, 10), 800))
    assert error.value.context["first_remittance_id"] == "R-2024-03"
    assert balance(people, "P1") == 22_400


# --------------------------------------------------------------------------- corrections


@pytest.fixture
def march(people: Ledger) -> Ledger:
    people.post_remittance(remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03"))
    return people


def test_a_correction_up_posts_the_difference_of_each_share(march: Ledger) -> None:
    # 900,000: employee 18,000, employer 54,000 of which 0.8% = 7,200 to the account, 46,800 pooled.
    # Differences: employee +2,000, to the account +800, pooled +5,200; paid in 8,000 (before the due date: no fee).
    pooled_before = march.pooled_fund(REGION).balance_fen
    outcome = march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 3, 20)))
    assert (outcome["difference_fen"], outcome["to_personal_accounts_fen"], outcome["to_pooled_fund_fen"], outcome["late_fee_fen"]) == (
        8_000, 2_800, 5_200, 0)
    assert balance(march, "P1") == 22_400 + 2_800
    assert march.pooled_fund(REGION).balance_fen == pooled_before + 5_200
    assert trial(march)[acc.BANK_INCOME] == 64_000 + 8_000
    assert march.personal_account(REGION, "P1").contribution_months == 1


def test_a_correction_down_after_another_refunds_from_the_expenditure_account(march: Ledger) -> None:
    # After the first correction P1's March holds the split of 900,000 (18,000 / 7,200 / 46,800).
    # Down to 700,000: employee 14,000 (-4,000), to the account 5,600 (-1,600), pooled 36,400 (-10,400);
    # refunded 16,000 from the expenditure account. P1: 25,200 - 5,600 = 19,600 = 14,000 + 5,600.
    march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 3, 20)))
    for movement_id, kind in (("M1", "income_to_fiscal_special"), ("M2", "fiscal_special_to_expenditure")):
        march.move_money(MoveBetweenBankAccounts(REGION, movement_id, kind, 20_000, date(2024, 3, 21)))
    outcome = march.correct_contributions(correction("COR-2", 700_000, -16_000, date(2024, 3, 25)))
    assert (outcome["difference_fen"], outcome["to_personal_accounts_fen"], outcome["to_pooled_fund_fen"]) == (-16_000, -5_600, -10_400)
    assert balance(march, "P1") == 19_600
    books = trial(march)
    assert books[acc.BANK_EXPENDITURE] == 20_000 - 16_000
    assert books[acc.FUND_POOLED] == -(41_600 + 5_200 - 10_400)
    assert march.personal_account(REGION, "P1").contribution_months == 1


def test_an_underpayment_corrected_after_the_due_date_bears_the_late_fee_on_the_difference(march: Ledger) -> None:
    # +8,000 received 2024-04-25, 10 days after 2024-04-15: 8,000 × 10 × 0.0005 = 40 fen.
    with pytest.raises(DeclaredTotalMismatch) as error:
        march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 4, 25)))
    assert (error.value.field, error.value.context["computed_late_fee_fen"]) == ("late_fee_fen", 40)
    outcome = march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 4, 25), late_fee_fen=40))
    assert (outcome["days_late"], outcome["late_fee_fen"]) == (10, 40)
    assert trial(march)[acc.BANK_INCOME] == 64_000 + 8_000 + 40


def test_a_correction_with_the_wrong_difference_is_refused_by_how_much(march: Ledger) -> None:
    with pytest.raises(DeclaredTotalMismatch) as error:
        march.correct_contributions(correction("COR-1", 900_000, 7_999, date(2024, 3, 20)))
    assert (error.value.field, error.value.context["difference_fen"]) == ("declared_difference_fen", -1)
    assert balance(march, "P1") == 22_400


def test_a_correction_must_name_the_remittance_that_recorded_the_month(march: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 3, 20), remittance_id="R-OTHER"))
    assert error.value.field == "lines[0].person_id"
    assert "R-2024-03" in error.value.reason


def test_a_month_never_paid_cannot_be_corrected(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.correct_contributions(correction("COR-1", 900_000, 72_000, date(2024, 3, 20)))
    assert "late payment" in error.value.reason


def test_a_retirees_credit_is_not_corrected_by_a_wage_base(march: Ledger) -> None:
    march.post_remittance(remittance("R-R1-2024-03", {"R1": None}, 0, period="2024-03"))
    command = replace(correction("COR-1", 100, 0, date(2024, 3, 20), remittance_id="R-R1-2024-03"), lines=(RemittanceLine("R1", 100),))
    with pytest.raises(InvalidInput) as error:
        march.correct_contributions(command)
    assert "set by the policy" in error.value.reason


def test_the_documented_late_payment_and_correction_examples_apply_as_written(ledger: Ledger) -> None:
    """docs/messages.md: P000123 (born 1985-06-01, employer E001), wage 500,000 fen: 2% + 6% =
    40,000 owed. February paid on 10 April: due 15 March, 16 days of March + 10 of April = 26 days
    late: 40,000 × 26 × 0.0005 = 520 fen. March remitted, then corrected to 550,000 on 28 March:
    8% of the 50,000 more = 4,000 fen, before its due date, so no fee."""
    import json

    from consumers import contract, schemas

    def build(name: str) -> object:
        message = schemas.parse_message(json.dumps(contract.MESSAGE_TYPES[name].example))
        return contract.MESSAGE_TYPES[name].build(message, schemas.payload_of(message))

    ledger.enrol(build("person.enrolled"))  # type: ignore[arg-type]
    assert ledger.post_late_payment(build("contribution.late_payment"))["late_fee_fen"] == 520  # type: ignore[arg-type]
    ledger.post_remittance(remittance("E001-2024-03", {"P000123": 500_000}, 40_000, period="2024-03", payer_id="E001"))
    assert ledger.correct_contributions(build("contribution.corrected"))["difference_fen"] == 4_000  # type: ignore[arg-type]


def test_a_line_refunded_does_not_pay_another_lines_late_fee_down(people: Ledger) -> None:
    # P1 up from 800,000 to 900,000 (+8,000 owed), P2 down to 700,000 (-8,000 refunded), together,
    # received 2024-04-25, 10 days after the due date: the fee is on P1's underpayment, as if it
    # were corrected on its own: 8,000 x 10 x 0.0005 = 40 fen. (It was on the net difference, 0.)
    enrol(people, "P2", birth_date=date(1990, 3, 15))
    people.post_remittance(remittance("R-2024-03", {"P1": 800_000, "P2": 800_000}, 128_000, period="2024-03"))
    lines = (RemittanceLine("P1", 900_000), RemittanceLine("P2", 700_000))
    both = CorrectContributions(REGION, "COR-1", "R-2024-03", "employer", "E1", "2024-03", date(2024, 4, 25), 0, lines, 0)
    with pytest.raises(DeclaredTotalMismatch) as error:
        people.correct_contributions(both)
    assert (error.value.field, error.value.context["computed_late_fee_fen"]) == ("late_fee_fen", 40)
    outcome = people.correct_contributions(replace(both, late_fee_fen=40))
    assert (outcome["difference_fen"], outcome["days_late"], outcome["late_fee_fen"]) == (0, 10, 40)
    assert trial(people)[acc.BANK_INCOME] == 128_000 + 40


def test_a_correction_received_before_the_remittance_it_corrects_is_refused(march: Ledger) -> None:
    recorded = event_count(march)
    with pytest.raises(InvalidInput) as error:
        march.correct_contributions(correction("COR-1", 900_000, 8_000, date(2024, 3, 10)))  # the remittance: 15 March
    assert error.value.field == "received_on"
    assert "cannot be received before" in error.value.reason
    assert event_count(march) == recorded
