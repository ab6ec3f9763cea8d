"""``binhai core``: the cloud core as a service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from binhai.cli._logging import status
from binhai.cli._options import (
    data_dir_option,
    dsn_option,
    layout_of,
    run_async,
    settle_heap,
    write_ready,
)


@click.group("core")
def command() -> None:
    """The cloud core: gRPC ingest and query over PostgreSQL / TimescaleDB.

    \b
    Examples:
      binhai core serve --dsn postgresql://127.0.0.1/binhai --migrate
      binhai core serve --help
    """


@command.command("serve")
@dsn_option()
@click.option(
    "--listen",
    default="127.0.0.1:50051",
    show_default=True,
    help="gRPC listen address (port 0 picks a free port).",
)
@click.option("--metrics-listen", default=None, help="Prometheus metrics address, e.g. :9464.")
@click.option(
    "--http-listen",
    default=None,
    help="Serve the live dashboard (fleet and device pages) here, e.g. :8080.",
)
@click.option("--pool-size", default=4, show_default=True, help="Database connections.")
@click.option(
    "--migrate/--no-migrate",
    default=False,
    show_default=True,
    help="Apply pending schema migrations before serving.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the bound port here once serving (for supervisors and tests).",
)
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to finish in-flight work on SIGTERM.",
)
@click.option(
    "--maintenance-interval",
    default=10.0,
    show_default=True,
    help="Seconds between storage maintenance rounds (rollups, partitions); 0 disables.",
)
@click.option(
    "--retention-days",
    type=int,
    default=None,
    help="Drop windows and health older than this many days (default: keep everything).",
)
@click.option(
    "--max-window-samples",
    default=1 << 20,
    show_default=True,
    help="Channels x samples per window at most (larger windows are dead-lettered).",
)
@click.option(
    "--max-batch-decoded-mb",
    default=32,
    show_default=True,
    help="MiB the raw windows of one batch may decode to.",
)
@click.option(
    "--max-future-s",
    default=86_400,
    show_default=True,
    help="Seconds a window's t0 may lie ahead of the core's clock.",
)
@click.option(
    "--policy-period",
    default=60.0,
    show_default=True,
    help="Seconds between the policy engine's rounds; 0 runs none in this core (run them in "
    "one core of a deployment). Operators' overrides go down either way.",
)
@click.option(
    "--policy-target",
    default=0.02,
    show_default=True,
    help="Share of windows the engine steers each synergy device to flag as novel.",
)
@data_dir_option
@click.option(
    "--auth/--no-auth",
    default=False,
    show_default=True,
    envvar="BINHAI_CORE_AUTH",
    show_envvar=True,
    help="Require a bearer token on every call (DATA_DIR/security/tokens.json;"
    " 'binhai token create'). Health and reflection stay open.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Server certificate (PEM) for TLS on the gRPC port ('binhai ca issue core"
    " --server-host ...').",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key (PEM).",
)
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require client certificates signed by this CA (mutual TLS); with --auth, a"
    " certificate whose common name is a token's name acts with that token's role and tenant.",
)
def serve_cmd(
    dsn: str,
    listen: str,
    metrics_listen: str | None,
    http_listen: str | None,
    pool_size: int,
    migrate: bool,
    ready_file: Path | None,
    drain_timeout: float,
    maintenance_interval: float,
    retention_days: int | None,
    max_window_samples: int,
    max_batch_decoded_mb: int,
    max_future_s: int,
    policy_period: float,
    policy_target: float,
    data_dir: Path | None,
    auth: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
) -> None:
    """Serve Ingest, Query, grpc.health.v1 and reflection until SIGTERM, then drain.

    Exits non-zero with the reason when a background part (the ingest writer) keeps failing.

    \b
    Examples:
      binhai core serve --dsn postgresql://127.0.0.1/binhai --listen 0.0.0.0:50051
      BINHAI_DSN=postgresql:///binhai binhai core serve --migrate --metrics-listen :9464
      binhai core serve --auth --tls-cert core.pem --tls-key core.key --listen 0.0.0.0:50051
      binhai core serve --dsn postgresql:///binhai --http-listen :8080   # + the dashboard
    """
    from cloud_core import (
        Core,
        CoreConfig,
        IngestLimits,
        MaintenanceConfig,
        PolicyEngineConfig,
        ServerTls,
        serve,
    )
    from cloud_core import migrate as do_migrate

    tls = None
    if tls_cert or tls_key or tls_client_ca:
        if not (tls_cert and tls_key):
            raise click.UsageError("--tls-cert and --tls-key go together (and --tls-client-ca)")
        try:
            client_ca = tls_client_ca.read_bytes() if tls_client_ca else None
            tls = ServerTls(tls_cert.read_bytes(), tls_key.read_bytes(), client_ca)
        except OSError as exc:
            raise click.BadParameter(f"cannot read {exc.filename}: {exc.strerror}") from exc
    authenticate = by_certificate = None
    if auth:
        from binhai._security import TokenStore

        tokens = TokenStore(layout_of(data_dir).tokens)
        if not tokens.load():
            click.echo(f"warning: no tokens in {tokens.path}: every call is refused", err=True)
        authenticate = tokens.authenticator()
        if tls_client_ca is not None:
            by_certificate = tokens.certificate_names()

    def ready(core: Core) -> None:
        settle_heap()
        status(f"core serving on port {core.port}", port=core.port)
        if core.http_server is not None:
            host, port = core.http_server.sockets[0].getsockname()[:2]
            status(f"dashboard on http://{host}:{port}/", url=f"http://{host}:{port}/")
        if ready_file is not None:
            write_ready(ready_file, str(core.port))

    if policy_period < 0 or not 0 < policy_target < 1:
        raise click.BadParameter("--policy-period must be >= 0 and --policy-target in (0, 1)")

    async def main() -> bool:
        if migrate:
            await do_migrate(dsn)
        cfg = CoreConfig(
            dsn=dsn,
            listen=listen,
            metrics_listen=metrics_listen,
            http_listen=http_listen,
            pool_size=pool_size,
            drain_timeout=drain_timeout,
            limits=IngestLimits(
                max_window_samples=max_window_samples,
                max_batch_decoded_bytes=max_batch_decoded_mb << 20,
                max_future=timedelta(seconds=max_future_s),
            ),
            maintenance=MaintenanceConfig(
                interval=maintenance_interval,
                retention=timedelta(days=retention_days) if retention_days else None,
            )
            if maintenance_interval > 0
            else None,
            policy=PolicyEngineConfig(period_s=policy_period, target_flag_rate=policy_target)
            if policy_period > 0
            else None,
            auth=authenticate,
            auth_by_certificate=by_certificate,
            tls=tls,
        )
        return await serve(cfg, on_ready=ready)

    if run_async(main()):
        status("core drained: every request read was committed and acked")
    else:
        raise click.ClickException(
            f"drain timed out after {drain_timeout:.0f}s; bridges resend what was not acked"
        )
