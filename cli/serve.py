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
    parser.add_argument("--threads", type=int, default=20, help="requests served at once by each process (default 20)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes serving (default 1): Python builds each answer on one core at a time; more workers use more cores")


def run(args: argparse.Namespace) -> int:
    import structlog
    import uvicorn

    from api.app import create_app
    from ledger.errors import InvalidInput

    if not 0 < args.port < 65536:
        raise InvalidInput("port", "must be between 1 and 65535", value=args.port)
    if not 1 <= args.threads <= 200:
        raise InvalidInput("threads", "must be between 1 and 200", value=args.threads)
    if not 1 <= args.workers <= 64:
        raise InvalidInput("workers", "must be between 1 and 64", value=args.workers)
    options = {"host": args.host, "port": args.port, "log_config": None, "access_log": False, "proxy_headers": False,
               "timeout_graceful_shutdown": 5}
    if args.workers > 1:  # each worker process builds the application from the environment
        os.environ["FUND_LEDGER_SERVE_THREADS"] = str(args.threads)
        if args.bootstrap_servers:
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap_servers
        structlog.get_logger().info("serve.listening", url=f"http://{args.host}:{args.port}/", workers=args.workers)
        uvicorn.run("api.app:app_from_environment", factory=True, workers=args.workers, **options)  # type: ignore[arg-type]
        return 0
    app = create_app(bootstrap_servers=args.bootstrap_servers, threads=args.threads)
    structlog.get_logger().info("serve.listening", url=f"http://{args.host}:{args.port}/", store=app.state.service.description,
                                reads_as=app.state.service.read_role)
    uvicorn.run(app, **options)  # type: ignore[arg-type]
    return 0
