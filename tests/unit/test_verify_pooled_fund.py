"""``verify`` finds a pooled fund that went below zero in the history (Liao 1999 §II(4)): the
ledger refuses such a payment today, but a history written before that rule, or around the
ledger, must not pass."""

from __future__ import annotations

from datetime import date

from ledger import accounts as acc
from ledger.aggregates import PooledFund
from ledger.application import Ledger
from projections.verify import Verifier
from tests.unit.builders import REGION


def test_a_pooled_payment_beyond_the_funds_balance_fails_verify(ledger: Ledger) -> None:
    assert Verifier(ledger).run().passed
    fund = ledger.repository.get(PooledFund.id_for(REGION))
    # 400,000 fen paid out of an empty pooled fund, around record_money's check.
    fund.trigger_event(PooledFund.InpatientBenefitPaid, region=REGION, on=date(2024, 3, 1), claim_id="H-OLD", person_id="P1",
                       pooled_fen=400_000, postings=acc.entry(*acc.transfer(acc.FUND_POOLED, acc.PAYABLE_HOSPITALS, 400_000,
                                                                            debit_item=acc.EXPENDITURE_INPATIENT)))
    ledger.save(fund)
    result = Verifier(ledger).run()
    assert not result.passed
    assert result.counts["pooled fund below zero"] == 1
    assert "region 210100 at -400000 fen" in result.violations["pooled fund below zero"][0]
