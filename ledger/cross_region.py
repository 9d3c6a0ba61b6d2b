"""Cross-region direct settlement (seed 000, Beijing-Tianjin-Hebei) and the clearing between the
regions' funds that follows it.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PooledFund
from ledger.claims import ClaimUseCases
from ledger.commands import SettleClearing, SettleCrossRegion, check_fen, fingerprint
from ledger.errors import InvalidInput
from ledger.records import ClearingPosition

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class CrossRegionUseCases(ClaimUseCases):
    # ------------------------------------------------------------------ cross-region settlement
    def settle_cross_region(self, command: SettleCrossRegion, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Cross-region direct settlement (seed 000, Beijing-Tianjin-Hebei): a person of the home
        region treated in the treating region. The bill is settled under the home region's
        policy, against the person's home account and ceiling; the treating region owes its
        hospital and the home region owes the treating region (``clearing.region.*``)."""
        return self._run(unit, self._settle_cross_region, command)  # type: ignore[no-any-return]

    def _settle_cross_region(self, unit: UnitOfWork, command: SettleCrossRegion) -> dict[str, Any]:
        from ledger.commands import SettleInpatient

        SettleInpatient(command.home_region, command.claim_id, command.person_id, command.hospital_level, command.admitted_on,
                        command.discharged_on, command.total_cost_fen, command.excluded_fen, command.institution_id).check()
        if command.treating_region == command.home_region:
            raise InvalidInput("treating_region", "is the home region: use an ordinary inpatient claim", region=command.home_region)
        self._book(unit, command.treating_region).check_open(command.discharged_on, "discharged_on")
        return self._settle_bill(unit, command, command.home_region, treating_region=command.treating_region)

    def clearing_owed_fen(self, creditor_region: str, debtor_region: str) -> int:
        position = self._new_unit().find(ClearingPosition.id_for(creditor_region, debtor_region), ClearingPosition)
        return 0 if position is None else position.owed_fen

    def settle_clearing(self, command: SettleClearing, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """The debtor region pays the creditor region what it owes for cross-region bills: out of
        the payer's expenditure account into the payee's income account. No more than is owed."""
        return self._run(unit, self._settle_clearing, command)  # type: ignore[no-any-return]

    def _settle_clearing(self, unit: UnitOfWork, command: SettleClearing) -> dict[str, Any]:
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "clearing", command.payer_region, command.clearing_id, digest, "clearing_id")
        if first is not None:
            return first
        for region in (command.payer_region, command.payee_region):
            self._book(unit, region).check_open(command.on)
        position = unit.find(ClearingPosition.id_for(command.payee_region, command.payer_region), ClearingPosition)
        owed_fen = 0 if position is None else position.owed_fen
        if position is None or command.amount_fen > owed_fen:
            raise InvalidInput("amount_fen", f"{command.payer_region} owes {command.payee_region} {owed_fen} fen, not {command.amount_fen}",
                               owed_fen=owed_fen, amount_fen=command.amount_fen)
        unit.get(PooledFund.id_for(command.payer_region), PooledFund).record_money(
            PooledFund.ClearingSettled,
            acc.entry(*acc.transfer(acc.region_clearing_account(command.payee_region), acc.BANK_EXPENDITURE, command.amount_fen)),
            on=command.on, clearing_id=command.clearing_id, counterparty_region=command.payee_region, amount_fen=command.amount_fen,
        )
        unit.get(PooledFund.id_for(command.payee_region), PooledFund).record_money(
            PooledFund.ClearingSettled,
            acc.entry(*acc.transfer(acc.BANK_INCOME, acc.region_clearing_account(command.payer_region), command.amount_fen)),
            on=command.on, clearing_id=command.clearing_id, counterparty_region=command.payer_region, amount_fen=command.amount_fen,
        )
        position.trigger_event(ClearingPosition.Settled, on=command.on, clearing_id=command.clearing_id, amount_fen=command.amount_fen)
        outcome = {"clearing_id": command.clearing_id, "amount_fen": command.amount_fen, "still_owed_fen": position.owed_fen}
        return self._record_outcome(unit, "clearing", command.payer_region, command.clearing_id, digest, command.on, outcome)
