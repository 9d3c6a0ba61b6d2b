"""``fund-ledger serve``: the HTTP service (API, pages, health, readiness, metrics) on one
address, served by uvicorn. Read-only over the ledger: keep the projections live with
``fund-ledger project --follow`` (``make serve`` runs both, supervised)."""

from __future__ import annotations

import argparse
import os

DEFAULT_LOG_LEVEL = "info"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--bootstrap-servers", dest="bootstrap_servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                        help="Kafka broker, for the consumer-lag metric (default $KAFKA_BOOTSTRAP_SERVERS; none: left out)")
    parser.add_argument("--threads", type=int, default=20, help="requests served at once (default 20)")


def run(args: argparse.Namespace) -> int:
    import anyio.to_thread
    import structlog
    import uvicorn

    from api.app import create_app
    from ledger.errors import InvalidInput

    if not 0 < args.port < 65536:
        raise InvalidInput("port", "must be between 1 and 65535", value=args.port)
    if not 1 <= args.threads <= 200:
        raise InvalidInput("threads", "must be between 1 and 200", value=args.threads)
    app = create_app(bootstrap_servers=args.bootstrap_servers)

    @app.on_event("startup")
    async def size_threads() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = args.threads

    structlog.get_logger().info("serve.listening", url=f"http://{args.host}:{args.port}/", store=app.state.service.description,
                                reads_as=app.state.service.read_role)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, proxy_headers=False,
                timeout_graceful_shutdown=5)
    return 0
