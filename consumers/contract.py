"""Where each message type goes and what it does: topic, key, use case, and an example.

- **Topic**: one per family of messages (``TOPICS``), optionally behind a prefix (an environment
  or a test: ``staging.ledger.claims``).
- **Key**: ``<region>/<business id of the aggregate it changes>``, so that everything about one
  personal account (or one employer, or one region's fund) lands in one partition, in order.
- **Use case**: the ``Ledger`` method that applies it, with the command built from the envelope's
  region and the payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consumers import schemas as s
from ledger import commands as cmd

TOPIC_PERSONS = "ledger.persons"
TOPIC_CONTRIBUTIONS = "ledger.contributions"
TOPIC_CLAIMS = "ledger.claims"
TOPIC_TRANSFERS = "ledger.transfers"
TOPIC_FUND = "ledger.fund"
TOPIC_DEAD_LETTERS = "ledger.dead-letters"
# The consumer handles the partitions of one poll in this order, so that an enrolment fetched in
# the same poll as a claim naming the person is applied first. Across polls, Kafka gives no order
# between topics: see docs/messages.md, "Ordering".
TOPICS = (TOPIC_PERSONS, TOPIC_FUND, TOPIC_CONTRIBUTIONS, TOPIC_TRANSFERS, TOPIC_CLAIMS)
NATIONAL_REGION = "000000"


@dataclass(frozen=True)
class MessageType:
    name: str
    topic: str
    key_field: str | None  # payload field holding the business id; None: the region's fund
    use_case: str  # the Ledger method
    build: Callable[[s.Envelope, Any], Any]  # (envelope, payload) -> ledger command
    example: dict[str, Any]

    def key(self, message: s.Envelope) -> str:
        payload = s.payload_of(message)
        business_id = getattr(payload, self.key_field) if self.key_field else "fund"
        return f"{message.region}/{business_id}"


def _remittance(message: s.Envelope, p: s.ContributionRemittance) -> cmd.PostRemittance:
    lines = tuple(cmd.RemittanceLine(line.person_id, line.wage_base_fen) for line in p.lines)
    return cmd.PostRemittance(message.region, p.remittance_id, p.payer_kind, p.payer_id, p.period, p.received_on,
                              p.declared_total_fen, lines)


def _late_payment(message: s.Envelope, p: s.ContributionLatePayment) -> cmd.PostLatePayment:
    lines = tuple(cmd.RemittanceLine(line.person_id, line.wage_base_fen) for line in p.lines)
    return cmd.PostLatePayment(message.region, p.remittance_id, p.payer_kind, p.payer_id, p.period, p.received_on,
                               p.declared_total_fen, lines, p.late_fee_fen)


def _correction(message: s.Envelope, p: s.ContributionCorrection) -> cmd.CorrectContributions:
    lines = tuple(cmd.RemittanceLine(line.person_id, line.wage_base_fen) for line in p.lines)
    return cmd.CorrectContributions(message.region, p.correction_id, p.remittance_id, p.payer_kind, p.payer_id, p.period,
                                    p.received_on, p.declared_difference_fen, lines, p.late_fee_fen)


def _budget(kind: str) -> Callable[[s.Envelope, s.BudgetSet], cmd.SetBudget]:
    def build(message: s.Envelope, p: s.BudgetSet) -> cmd.SetBudget:
        lines = tuple(cmd.BudgetLine(line.item, line.amount_fen) for line in p.lines)
        return cmd.SetBudget(message.region, p.budget_id, p.fund, p.year, kind, lines, p.on)
    return build


def _with_region(command_class: type) -> Callable[[s.Envelope, Any], Any]:
    """For commands whose fields are ``region`` plus exactly the payload's fields."""
    def build(message: s.Envelope, payload: Any) -> Any:
        return command_class(region=message.region, **dict(payload))
    return build


def _example(type_name: str, message_id: str, region: str, payload: dict[str, Any], producer: str = "example-producer") -> dict[str, Any]:
    """An example message, issued on the day of its latest business date (the window of
    ``ledger.bounds`` allows no business date much after the message's ``occurred_at``)."""
    dates = sorted(value for value in payload.values() if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
    issued_on = dates[-1] if dates else "2024-12-31"
    return {"message_id": message_id, "producer": producer, "type": type_name, "schema_version": s.SCHEMA_VERSION,
            "region": region, "occurred_at": f"{issued_on}T09:30:00+08:00", "payload": payload}


R = "210100"
MESSAGE_TYPES: dict[str, MessageType] = {t.name: t for t in [
    MessageType("person.enrolled", TOPIC_PERSONS, "person_id", "enrol", _with_region(cmd.Enrol), _example(
        "person.enrolled", "hr-000123", R, {"person_id": "P000123", "category": "employee", "birth_date": "1985-06-01",
                                            "employer_id": "E001", "enrolled_on": "2024-01-01"})),
    MessageType("person.category_changed", TOPIC_PERSONS, "person_id", "change_category", _with_region(cmd.ChangeCategory), _example(
        "person.category_changed", "hr-000124", R, {"person_id": "P000123", "on": "2024-07-01", "category": "retiree",
                                                    "employer_id": "E001", "pension_fen": 350000})),
    MessageType("person.deceased", TOPIC_PERSONS, "person_id", "record_death", _with_region(cmd.RecordDeath), _example(
        "person.deceased", "civil-2024-0042", R, {"person_id": "P000123", "died_on": "2024-09-30",
                                                  "heirs_reference": "notarial certificate (2024) Shen-Zheng 1234"})),
    MessageType("contribution.remittance", TOPIC_CONTRIBUTIONS, "payer_id", "post_remittance", _remittance, _example(
        "contribution.remittance", "tax-E001-2024-03", R, {
            "remittance_id": "E001-2024-03", "payer_kind": "employer", "payer_id": "E001", "period": "2024-03",
            "received_on": "2024-03-15", "declared_total_fen": 40000,
            "lines": [{"person_id": "P000123", "wage_base_fen": 500000}, {"person_id": "P000200"}]})),
    MessageType("contribution.late_payment", TOPIC_CONTRIBUTIONS, "payer_id", "post_late_payment", _late_payment, _example(
        "contribution.late_payment", "tax-E001-2024-02-late", R, {
            "remittance_id": "E001-2024-02-late", "payer_kind": "employer", "payer_id": "E001", "period": "2024-02",
            "received_on": "2024-04-10", "declared_total_fen": 40000, "late_fee_fen": 520,
            "lines": [{"person_id": "P000123", "wage_base_fen": 500000}]})),
    MessageType("contribution.corrected", TOPIC_CONTRIBUTIONS, "payer_id", "correct_contributions", _correction, _example(
        "contribution.corrected", "tax-E001-2024-03-cor1", R, {
            "correction_id": "COR-E001-2024-03-1", "remittance_id": "E001-2024-03", "payer_kind": "employer",
            "payer_id": "E001", "period": "2024-03", "received_on": "2024-03-28", "declared_difference_fen": 4000,
            "late_fee_fen": 0, "lines": [{"person_id": "P000123", "wage_base_fen": 550000}]})),
    MessageType("claim.outpatient", TOPIC_CLAIMS, "person_id", "pay_outpatient", _with_region(cmd.PayOutpatient), _example(
        "claim.outpatient", "his-OP-88001", R, {"claim_id": "OP-88001", "person_id": "P000123", "kind": "pharmacy",
                                                "on": "2024-03-20", "amount_fen": 4650})),
    MessageType("claim.inpatient", TOPIC_CLAIMS, "person_id", "settle_inpatient", _with_region(cmd.SettleInpatient), _example(
        "claim.inpatient", "his-IP-5501", R, {"claim_id": "IP-5501", "person_id": "P000123", "hospital_level": 3,
                                              "admitted_on": "2024-04-02", "discharged_on": "2024-04-12",
                                              "total_cost_fen": 2350000, "excluded_fen": 120000})),
    MessageType("claim.serious_outpatient", TOPIC_CLAIMS, "person_id", "settle_serious_outpatient",
                _with_region(cmd.SettleSeriousOutpatient), _example(
        "claim.serious_outpatient", "his-SO-3301", R, {"claim_id": "SO-3301", "person_id": "P000123",
                                                       "condition_code": "uremia_dialysis", "hospital_level": 3,
                                                       "on": "2024-04-18", "total_cost_fen": 300000, "excluded_fen": 0})),
    MessageType("claim.reversed", TOPIC_CLAIMS, "person_id", "reverse_claim", _with_region(cmd.ReverseClaim), _example(
        "claim.reversed", "his-IP-5501-rev", R, {"correction_id": "COR-5501", "claim_id": "IP-5501", "person_id": "P000123", "on": "2024-05-03",
                                                  "reason": "bill withdrawn by the hospital"})),
    MessageType("claim.cross_region", TOPIC_CLAIMS, "person_id", "settle_cross_region",
                lambda m, p: cmd.SettleCrossRegion(home_region=m.region, **dict(p)), _example(
        "claim.cross_region", "jjj-XR-7001", R, {"treating_region": "110100", "claim_id": "XR-7001", "person_id": "P000123",
                                                 "hospital_level": 3, "admitted_on": "2024-05-06", "discharged_on": "2024-05-10",
                                                 "total_cost_fen": 860000, "excluded_fen": 0})),
    MessageType("transfer.out", TOPIC_TRANSFERS, "person_id", "transfer_out", _with_region(cmd.TransferOut), _example(
        "transfer.out", "tr-2024-0007-out", R, {"transfer_id": "TR-2024-0007", "person_id": "P000123",
                                                "to_region": "210200", "on": "2024-06-30"})),
    MessageType("transfer.in", TOPIC_TRANSFERS, "person_id", "transfer_in", _with_region(cmd.TransferIn), _example(
        "transfer.in", "tr-2024-0007-in", "210200", {"transfer_id": "TR-2024-0007", "person_id": "P000123",
                                                     "from_region": R, "on": "2024-07-05", "amount_fen": 123456,
                                                     "contribution_months": 150, "category": "employee",
                                                     "birth_date": "1985-06-01", "employer_id": "E900"})),
    MessageType("clearing.settled", TOPIC_FUND, None, "settle_clearing",
                lambda m, p: cmd.SettleClearing(payer_region=m.region, **dict(p)), _example(
        "clearing.settled", "clr-2024Q2-110100", R, {"clearing_id": "CLR-2024Q2-110100", "payee_region": "110100",
                                                     "amount_fen": 688000, "on": "2024-07-15"})),
    MessageType("interest.rates_announced", TOPIC_FUND, "announcement_id", "announce_interest_rates",
                lambda m, p: cmd.AnnounceInterestRates(**dict(p)), _example(
        "interest.rates_announced", "pboc-2023-06", NATIONAL_REGION, {
            "announcement_id": "PBOC-2023-06", "effective_from": "2023-06-08", "demand_rate": "0.002",
            "three_month_rate": "0.0125", "three_year_rate": "0.0245"})),
    MessageType("interest.posting_requested", TOPIC_FUND, None, "post_interest", _with_region(cmd.PostInterest), _example(
        "interest.posting_requested", "agency-interest-2024", R, {"year": 2024})),
    MessageType("year.close_requested", TOPIC_FUND, None, "close_year", _with_region(cmd.CloseYear), _example(
        "year.close_requested", "agency-close-2024", R, {"year": 2024})),
    MessageType("retiree_credit.run_requested", TOPIC_FUND, None, "credit_retirees", _with_region(cmd.CreditRetirees), _example(
        "retiree_credit.run_requested", "agency-retirees-2024-03", R, {"period": "2024-03", "on": "2024-03-25"})),
    MessageType("income.recorded", TOPIC_FUND, None, "record_income", _with_region(cmd.RecordIncome), _example(
        "income.recorded", "fin-INC-2024-001", R, {"income_id": "INC-2024-001", "fund": "pooled", "item": "fiscal_subsidy",
                                                   "amount_fen": 50000000, "on": "2024-03-31"})),
    MessageType("expenditure.recorded", TOPIC_FUND, None, "record_expenditure", _with_region(cmd.RecordExpenditure), _example(
        "expenditure.recorded", "fin-EXP-2024-001", R, {"expenditure_id": "EXP-2024-001", "fund": "pooled",
                                                        "item": "remittance_to_upper_level", "amount_fen": 1000000,
                                                        "on": "2024-06-30"})),
    MessageType("memo_fund.beneficiary_registered", TOPIC_PERSONS, "person_id", "register_memo_beneficiary",
                _with_region(cmd.RegisterMemoBeneficiary), _example(
        "memo_fund.beneficiary_registered", "hr-cs-000123", R, {"fund": "civil_servant_subsidy", "person_id": "P000123",
                                                                "since": "2024-01-01", "reference": "Shenyang HR bureau 2024-17"})),
    MessageType("bank.movement", TOPIC_FUND, None, "move_money", _with_region(cmd.MoveBetweenBankAccounts), _example(
        "bank.movement", "bank-MV-2024-0311", R, {"movement_id": "MV-2024-0311", "kind": "income_to_fiscal_special",
                                                  "amount_fen": 90000000, "on": "2024-03-31"})),
    MessageType("budget.approved", TOPIC_FUND, None, "set_budget", _budget("approved"), _example(
        "budget.approved", "fin-BUD-2024-pooled", R, {"budget_id": "BUD-2024-pooled", "fund": "pooled", "year": 2024,
                                                      "lines": [{"item": "income.contribution", "amount_fen": 900000000},
                                                                {"item": "expenditure.benefit.inpatient", "amount_fen": 700000000}],
                                                      "on": "2024-01-20"})),
    MessageType("budget.adjusted", TOPIC_FUND, None, "set_budget", _budget("adjusted"), _example(
        "budget.adjusted", "fin-BUD-2024-pooled-adj1", R, {"budget_id": "BUD-2024-pooled-adj1", "fund": "pooled", "year": 2024,
                                                           "lines": [{"item": "expenditure.benefit.inpatient", "amount_fen": 760000000}],
                                                           "on": "2024-08-20"})),
]}

assert set(MESSAGE_TYPES) == set(s.PAYLOADS), set(MESSAGE_TYPES) ^ set(s.PAYLOADS)


def topic_for(type_name: str, prefix: str = "") -> str:
    return prefix + MESSAGE_TYPES[type_name].topic


def all_topics(prefix: str = "") -> list[str]:
    return [prefix + topic for topic in TOPICS]


def dead_letter_topic(prefix: str = "") -> str:
    return prefix + TOPIC_DEAD_LETTERS


def route(message: s.Envelope, prefix: str = "") -> tuple[str, str]:
    """(topic, key) of a valid message."""
    kind = MESSAGE_TYPES[message.type]
    return prefix + kind.topic, kind.key(message)
