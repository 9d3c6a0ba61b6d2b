"""Transfers of a personal account between regions (Social Insurance Law art. 32): out of the
old region, in transit, into the new one; and death, when the account is inherited (Liao 1999
§II(3)). Both close the account and pay it the interest it earned this year first.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.commands import Enrol, RecordDeath, TransferIn, TransferOut, check_fen, check_text, fingerprint
from ledger.errors import InvalidInput, TransferMismatch, UnknownTransfer
from ledger.interest_posting import InterestUseCases
from ledger.records import Transfer

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class TransferUseCases(InterestUseCases):
    # ------------------------------------------------------------------ transfers between regions
    def transfer_out(self, command: TransferOut, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Social Insurance Law art. 32: the person's whole balance leaves with them. The old
        region debits the account and holds the money in transit (``transit.transfers_out``)
        until the new region confirms the transfer-in; the account closes here."""
        return self._run(unit, self._transfer_out, command)  # type: ignore[no-any-return]

    def _transfer_out(self, unit: UnitOfWork, command: TransferOut) -> dict[str, Any]:
        for field in ("region", "transfer_id", "person_id", "to_region"):
            check_text(field, getattr(command, field))
        if command.to_region == command.region:
            raise InvalidInput("to_region", "a transfer must go to another region", region=command.region)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "transfer-out", command.region, command.transfer_id, digest, "transfer_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        account = self._account(unit, command.region, command.person_id)
        account.check_open()
        _check_transfer_id_free(unit, command)
        self._settle_accrued_interest(unit, account, command.on)
        amount_fen, months = account.balance_fen, account.contribution_months
        account.record_money(
            PersonalAccount.TransferredOut,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.CLEARING_PERSONAL_ACCOUNTS, amount_fen,
                                    debit_item=acc.EXPENDITURE_TRANSFER_OUT, debit_person_id=account.person_id)),
            on=command.on, origin="transfer", transfer_id=command.transfer_id, to_region=command.to_region, amount_fen=amount_fen,
            person_id=account.person_id, contribution_months_out=months,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.TRANSIT_TRANSFERS_OUT, amount_fen)),
            on=command.on, reference=command.transfer_id, kind="transfer_out", amount_fen=amount_fen,
        )
        unit.add(Transfer._create(
            Transfer.Started, id=Transfer.id_for(command.transfer_id), transfer_id=command.transfer_id,
            person_id=command.person_id, from_region=command.region, to_region=command.to_region, amount_fen=amount_fen,
            contribution_months=months, birth_date=account.birth_date, category=account.category_on(command.on), on=command.on,
        ))
        outcome = {"transfer_id": command.transfer_id, "person_id": command.person_id, "from_region": command.region,
                   "to_region": command.to_region, "amount_fen": amount_fen, "contribution_months": months}
        return self._record_outcome(unit, "transfer-out", command.region, command.transfer_id, digest, command.on, outcome)

    def transfer_in(self, command: TransferIn, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Land a transfer in the new region. It must match a recorded transfer-out: same
        person, regions, amount and contribution months; otherwise it is refused (a transfer-in
        that arrives before its transfer-out is refused too, and can be sent again later). The
        old region pays the money in transit from its expenditure account; the new region
        receives it in its income account and credits the account (origin: transfer in)."""
        return self._run(unit, self._transfer_in, command)  # type: ignore[no-any-return]

    def _transfer_in(self, unit: UnitOfWork, command: TransferIn) -> dict[str, Any]:
        check_fen("amount_fen", command.amount_fen)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "transfer-in", command.region, command.transfer_id, digest, "transfer_id")
        if first is not None:
            return first
        transfer = unit.find(Transfer.id_for(command.transfer_id), Transfer)
        if transfer is None:
            raise UnknownTransfer("transfer_id", f"no transfer-out {command.transfer_id!r} has been recorded", transfer_id=command.transfer_id)
        expected = {"region": transfer.to_region, "from_region": transfer.from_region, "person_id": transfer.person_id,
                    "amount_fen": transfer.amount_fen, "contribution_months": transfer.contribution_months}
        for field, value in expected.items():
            if getattr(command, field) != value:
                raise TransferMismatch(field, f"the transfer-out says {value!r}, the transfer-in {getattr(command, field)!r}",
                                       transfer_id=command.transfer_id, expected=value, got=getattr(command, field))
        if transfer.landed_on is not None:
            raise TransferMismatch("transfer_id", f"transfer {command.transfer_id!r} already landed on {transfer.landed_on}", transfer_id=command.transfer_id)
        if command.on < transfer.started_on:
            raise TransferMismatch("on", f"transfer {command.transfer_id!r} left {transfer.from_region} on {transfer.started_on}: "
                                   f"it cannot land before, on {command.on}", transfer_id=command.transfer_id,
                                   expected=transfer.started_on, got=command.on)
        self._book(unit, command.region).check_open(command.on)
        account = unit.find(PersonalAccount.id_for(command.region, command.person_id), PersonalAccount)
        if account is not None and account.is_closed:
            account.reopen_on_return(command.on, command.transfer_id)
        if account is None:
            self._enrol(unit, Enrol(command.region, command.person_id, transfer.category, transfer.birth_date,
                                    command.employer_id, command.on))
            account = self._account(unit, command.region, command.person_id)
        account.record_money(
            PersonalAccount.TransferredIn,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, command.amount_fen,
                                    credit_item=acc.INCOME_TRANSFER_IN, credit_person_id=command.person_id, origin=acc.ORIGIN_TRANSFER_IN)),
            on=command.on, origin=acc.ORIGIN_TRANSFER_IN, transfer_id=command.transfer_id, from_region=command.from_region,
            amount_fen=command.amount_fen, contribution_months=command.contribution_months, person_id=command.person_id,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.BANK_INCOME, acc.CLEARING_PERSONAL_ACCOUNTS, command.amount_fen)),
            on=command.on, reference=command.transfer_id, kind="transfer_in", amount_fen=command.amount_fen,
        )
        origin_fund = unit.find(PooledFund.id_for(command.from_region), PooledFund)
        if origin_fund is not None:  # the old region keeps its books on this ledger: pay out the transit
            # ... dated in its open period: a closed year's books do not change.
            origin_book = self._book(unit, command.from_region)
            paid_on = max(command.on, date(origin_book.last_closed_year + 1, 1, 1))
            origin_fund.record_money(
                PooledFund.PersonalAccountsSettled,
                acc.entry(*acc.transfer(acc.TRANSIT_TRANSFERS_OUT, acc.BANK_EXPENDITURE, command.amount_fen)),
                on=paid_on, reference=command.transfer_id, kind="transfer_paid", amount_fen=command.amount_fen,
            )
        transfer.trigger_event(Transfer.Landed, on=command.on)
        outcome = {"transfer_id": command.transfer_id, "person_id": command.person_id, "amount_fen": command.amount_fen,
                   "contribution_months_total": account.contribution_months}
        return self._record_outcome(unit, "transfer-in", command.region, command.transfer_id, digest, command.on, outcome)


    # ------------------------------------------------------------------ death and inheritance
    def record_death(self, command: RecordDeath, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Liao 1999 §II(3): the principal and interest of a personal account belong to the
        person and are inherited. The balance is paid to the heirs from the expenditure account
        and the account is closed; later postings to it are refused."""
        return self._run(unit, self._record_death, command)  # type: ignore[no-any-return]

    def _record_death(self, unit: UnitOfWork, command: RecordDeath) -> dict[str, Any]:
        check_text("heirs_reference", command.heirs_reference, 200)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "death", command.region, command.person_id, digest, "person_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.died_on, "died_on")
        account = self._account(unit, command.region, command.person_id)
        account.check_open()
        self._settle_accrued_interest(unit, account, command.died_on)
        amount_fen = account.balance_fen
        account.record_money(
            PersonalAccount.Inherited,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.CLEARING_PERSONAL_ACCOUNTS, amount_fen,
                                    debit_item=acc.EXPENDITURE_INHERITANCE, debit_person_id=account.person_id)),
            on=command.died_on, origin="inheritance", died_on=command.died_on, heirs_reference=command.heirs_reference, amount_fen=amount_fen,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.BANK_EXPENDITURE, amount_fen)),
            on=command.died_on, reference=f"inheritance/{command.person_id}", kind="inheritance", amount_fen=amount_fen,
        )
        outcome = {"person_id": command.person_id, "paid_to_heirs_fen": amount_fen, "heirs_reference": command.heirs_reference}
        return self._record_outcome(unit, "death", command.region, command.person_id, digest, command.died_on, outcome)


def _check_transfer_id_free(unit: UnitOfWork, command: TransferOut) -> None:
    """A transfer id names one transfer across every region (the transfer-in finds it by id
    alone): one already used by another region's transfer-out is refused, not overwritten."""
    used = unit.find(Transfer.id_for(command.transfer_id), Transfer)
    if used is not None:
        raise TransferMismatch("transfer_id", f"transfer id {command.transfer_id!r} is already used by the transfer of "
                               f"{used.person_id!r} from {used.from_region} on {used.started_on}", transfer_id=command.transfer_id)
