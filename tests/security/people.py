"""Two insured people and what the ledger keeps of them: the messages of the security tests.

P1, born 1971-03-14, works for E77; P2, born 1985-06-01, too. Both earn 500,000 fen a month.
Worked by hand (policy 2024-01 of liaoning_1999_example.toml) for the remittance of 2024-01:

- P1 is 52 on 2024-01-01: employee share 2% = 10,000; the employer's 6% = 30,000, of which the
  45-and-over band's 2% = 10,000 to the account, 20,000 to the pooled fund. Account: 20,000.
- P2 is 38: 10,000; of the employer's 30,000 the 35-to-45 band's 1% = 5,000 to the account,
  25,000 to the pooled fund. Account: 15,000.
- Declared 80,000 = 2 x (10,000 + 30,000); the pooled fund gets 45,000, the income account 80,000.

20,000 moves from the income account through the fiscal special account to the expenditure
account; P1 dies on 2024-02-28 and their 20,000 is paid to the heirs from it. P2 pays an
outpatient bill of 3,000 from the account: 12,000 left. A second enrolment of P1 with another
employer is refused (``duplicate_business_id``): its dead letter keeps the original, P1's birth
date in it. The pooled fund ends at 45,000; the income account at 60,000, the expenditure account
at 0 (what the heirs got left it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REGION = "210100"
P1_BIRTH = "1971-03-14"
P1_EMPLOYER = "E77"
P1_HEIRS = "notarial certificate (2024) Shen-Zheng 4711, heir Wang Fang, ID 210102197103140021"
P2_BIRTH = "1985-06-01"
EXPECTED = {"P1": 0, "P2": 12_000, "pooled_fen": 45_000}


def message(message_id: str, producer: str, type_name: str, payload: dict[str, Any], on: str) -> dict[str, Any]:
    return {"message_id": message_id, "producer": producer, "type": type_name, "schema_version": 1, "region": REGION,
            "occurred_at": f"{on}T09:00:00+08:00", "payload": payload}


def enrolment(person_id: str, birth_date: str, employer_id: str, message_id: str | None = None) -> dict[str, Any]:
    return message(message_id or f"hr-{person_id}", "hr", "person.enrolled", {
        "person_id": person_id, "category": "employee", "birth_date": birth_date, "employer_id": employer_id,
        "enrolled_on": "2024-01-01"}, "2024-01-05")


DUPLICATE_ENROLMENT = enrolment("P1", P1_BIRTH, "E78", message_id="hr-P1-again")  # refused: P1 is enrolled with E77


def messages() -> list[dict[str, Any]]:
    return [
        enrolment("P1", P1_BIRTH, P1_EMPLOYER),
        enrolment("P2", P2_BIRTH, P1_EMPLOYER),
        message("tax-E77-2024-01", "tax", "contribution.remittance", {
            "remittance_id": "E77-2024-01", "payer_kind": "employer", "payer_id": P1_EMPLOYER, "period": "2024-01",
            "received_on": "2024-01-15", "declared_total_fen": 80_000,
            "lines": [{"person_id": "P1", "wage_base_fen": 500_000}, {"person_id": "P2", "wage_base_fen": 500_000}]}, "2024-01-15"),
        DUPLICATE_ENROLMENT,
        message("bank-1", "bank", "bank.movement", {"movement_id": "MV-1", "kind": "income_to_fiscal_special", "amount_fen": 20_000,
                                                  "on": "2024-02-01"}, "2024-02-01"),
        message("bank-2", "bank", "bank.movement", {"movement_id": "MV-2", "kind": "fiscal_special_to_expenditure",
                                                  "amount_fen": 20_000, "on": "2024-02-01"}, "2024-02-01"),
        message("civil-P1", "civil", "person.deceased", {"person_id": "P1", "died_on": "2024-02-28", "heirs_reference": P1_HEIRS},
                "2024-03-01"),
        message("his-P2-1", "his", "claim.outpatient", {"claim_id": "OP-P2-1", "person_id": "P2", "kind": "outpatient",
                                                      "on": "2024-03-02", "amount_fen": 3_000}, "2024-03-02"),
    ]


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))
    return path


def line_of(item: dict[str, Any]) -> bytes:
    """The bytes of ``item`` as ``write`` puts it on its line (what a dead letter keeps)."""
    return json.dumps(item, ensure_ascii=False).encode()


def retention_policy(path: Path, years: int = 0) -> Path:
    """The shipped policy with another retention period (years before an erasure is allowed)."""
    from ledger.policy import DEFAULT_POLICY_FILE

    text = DEFAULT_POLICY_FILE.read_text()
    assert "personal_data_years_after_closure = 30" in text
    path.write_text(text.replace("personal_data_years_after_closure = 30", f"personal_data_years_after_closure = {years}"))
    return path
