"""``fund-ledger token``: the service's bearer tokens, and its access log.

``create --role finance|auditor|admin [--region R ...] --name WHO`` prints the token once (only
its SHA-256 is kept); ``list`` shows every token without its secret; ``revoke ID``; ``log``
lists the access log (who asked for what, when), newest first."""

from __future__ import annotations

import argparse
import json
import sys

from api.auth import DEFAULT_VALID_DAYS, MAX_VALID_DAYS, ROLES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--region", action="append", default=[], help="a region a finance token may see (repeat for more)")
    create.add_argument("--name", required=True, help="who holds it")
    create.add_argument("--valid-days", type=int, default=DEFAULT_VALID_DAYS,
                        help=f"days until it stops working (default {DEFAULT_VALID_DAYS}, at most {MAX_VALID_DAYS})")
    create.add_argument("--format", choices=["text", "json"], default="text")
    listing = sub.add_parser("list", help="every token, never its secret")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    revoke = sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    log = sub.add_parser("log", help="the access log, newest first")
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from api.auth import TokenBook
    from api.store import ApiStore
    from ledger.errors import InvalidInput
    from ledger.settings import ledger_env

    store = ApiStore(ledger_env())
    try:
        store.create_tables()
        book = TokenBook(store)
        if args.action == "create":
            issued = book.create(args.role, args.name, args.region, valid_days=args.valid_days)
            if args.format == "json":
                print(json.dumps({"token": issued.token, "token_id": issued.token_id, "name": issued.name, "role": issued.role,
                                  "regions": list(issued.regions), "expires_at": issued.expires_at}, ensure_ascii=False))
            else:
                print(issued.token)
                print(f"token {issued.token_id} for {issued.name} ({issued.role}"
                      + (f"; regions {', '.join(issued.regions)}" if issued.regions else "")
                      + f"; until {issued.expires_at}): shown once, keep it safe",
                      file=sys.stderr)
        elif args.action == "list":
            tokens = book.list()
            if args.format == "json":
                print(json.dumps(tokens, ensure_ascii=False, indent=2))
            for token in tokens if args.format == "text" else []:
                state = f"revoked {token['revoked_at']}" if token["revoked_at"] else (
                    f"until {token['expires_at']}" if token["expires_at"] else "live, no expiry (made before tokens expired)")
                print(f"{token['token_id']}  {token['role']:<8}  {token['name']}  regions={','.join(token['regions']) or '*'}  "  # type: ignore[arg-type]
                      f"created {token['created_at']}  {state}")
        elif args.action == "revoke":
            if not book.revoke(args.token_id):
                raise InvalidInput("token_id", f"no live token {args.token_id!r}", value=args.token_id)
            print(f"token {args.token_id} revoked")
        else:
            return _log(store, args)
    finally:
        store.close()
    return 0


def _log(store: object, args: argparse.Namespace) -> int:
    from ledger.errors import InvalidInput

    if not 1 <= args.limit <= 100_000:
        raise InvalidInput("limit", "must be between 1 and 100000", value=args.limit)
    rows = store.query("SELECT at, who, role, method, path, query, status, duration_ms FROM api_access_log "  # type: ignore[attr-defined]
                       f"ORDER BY id DESC LIMIT {int(args.limit)}")
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        query = f"?{row['query']}" if row["query"] else ""
        print(f"{row['at']}  {row['who']} ({row['role'] or '-'})  {row['method']} {row['path']}{query}  {row['status']}  {row['duration_ms']} ms")
    return 0
