"""Read models for finance and audit, built from the ledger's event log.

Each batch of events is folded in memory (``projections.fold``) and written with its tracking
position in one transaction (``projections.projector``), so a crash never counts an event twice
or skips one. The tables are documented for SQL users in ``docs/projections.md``.
"""
