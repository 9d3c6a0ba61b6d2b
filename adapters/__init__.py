"""Adapters: infrastructure the ledger uses through narrow interfaces (SQL lives here, not in
``ledger/``)."""
