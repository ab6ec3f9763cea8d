"""Options shared by several commands, each bound to its environment variable."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_MQTT = "mqtt://127.0.0.1:1883"
DEFAULT_CORE = "127.0.0.1:50051"


def _running(key: str, *, required: bool = False) -> Callable[..., str | None]:
    """An option callback: when the value is the built-in default (no command line, env var or
    config file gave it), take the running ``binhai up --serve`` stack's ``key`` instead."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if ctx.resilient_parsing:
            return value
        if param.name and ctx.get_parameter_source(param.name) in (
            ParameterSource.DEFAULT,
            None,
        ):
            from binhai.cli._workdir import stack_default

            value = stack_default(key, value)
        if value is None and required:
            flag = param.opts[0] if param.opts else key
            raise click.UsageError(
                f"Missing option '{flag}' (or ${param.envvar}); no running"
                " `binhai up --serve` stack to take it from either",
                ctx=ctx,
            )
        return value

    return callback


_RUNNING = " A running `binhai up --serve` stack's is used when none is given."


def dsn_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--dsn",
        envvar="BINHAI_DSN",
        callback=_running("dsn", required=required),
        show_envvar=True,
        help="PostgreSQL connection string, e.g. postgresql://127.0.0.1:5432/binhai." + _RUNNING,
    )


mqtt_option = click.option(
    "--mqtt-url",
    envvar="BINHAI_MQTT_URL",
    default=DEFAULT_MQTT,
    callback=_running("mqtt_url"),
    show_default=True,
    show_envvar=True,
    help="Broker: mqtt[s]://[user:pass@]host[:port][?protocol=5|3.1.1]." + _RUNNING,
)

core_option = click.option(
    "--core-addr",
    envvar="BINHAI_CORE_ADDR",
    default=DEFAULT_CORE,
    callback=_running("core_addr"),
    show_default=True,
    show_envvar=True,
    help="Core gRPC address host:port; several comma-separated for round robin." + _RUNNING,
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object as the last line of stdout."
)


def write_ready(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` (a readiness signal for supervisors and tests)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


#: The cyclic collector's young-generation threshold in a running service (Python's is 700).
SERVICE_GC_THRESHOLD = 20_000


def settle_heap() -> None:
    """Once a long-running service (core, bridge) has started: keep what startup allocated out
    of the cyclic collector's scans (:func:`gc.freeze`) and run the collector every
    ``SERVICE_GC_THRESHOLD`` allocations instead of 700.

    The core's ingest allocates a few container objects per window, nearly all freed at once by
    reference counting; at Python's threshold the collector ran ~20 times per 1,000 messages
    and took 8-9 % of the CPU of staging and judging them. Garbage in reference cycles is still
    collected, later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(SERVICE_GC_THRESHOLD, *gc.get_threshold()[1:])


def emit(data: dict[str, Any], as_json: bool, title: str) -> None:
    """Print ``data`` as a table, or as one JSON line."""
    if as_json:
        click.echo(json.dumps(data, sort_keys=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in data.items():
        table.add_row(key, str(value))
    Console().print(table)


def _stack_data_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A running ``binhai up --serve`` stack's data directory when none is given."""
    if value is not None or ctx.resilient_parsing:
        return value
    from binhai.cli._workdir import state_of

    state = state_of()
    return Path(state.data_dir) if state is not None and state.data_dir else None


def data_dir_option(f: F) -> F:
    """``--data-dir`` (env ``BINHAI_DATA_DIR``): where a deployment keeps its CA, identities,
    broker configuration and tokens (under ``security/``); a running stack's by default."""
    return click.option(
        "--data-dir",
        envvar="BINHAI_DATA_DIR",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        callback=_stack_data_dir,
        help="Deployment data directory [default: a running `binhai up --serve` stack's with"
        " authentication, else $XDG_DATA_HOME/binhai or ~/.local/share/binhai].",
    )(f)


def layout_of(data_dir: Path | None) -> Any:
    """The :class:`binhai._security.Layout` of ``data_dir`` (the default one when None)."""
    from binhai._security import Layout, default_data_dir

    return Layout(data_dir if data_dir is not None else default_data_dir())


_CORE_AUTH = "binhai.core_auth"


def _stash(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_CORE_AUTH, {})[param.name] = value


def core_auth_options(f: F) -> F:
    """``--token`` (env ``BINHAI_TOKEN``), ``--core-ca``, ``--core-cert``, ``--core-key`` (env
    ``BINHAI_CORE_CA`` …) for commands that call the core; read them back with
    :func:`core_auth`. The token is never shown."""
    for name, what in (
        ("key", "The client certificate's key (PEM)."),
        ("cert", "Client certificate (PEM) for a core that requires mutual TLS."),
    ):
        f = click.option(
            f"--core-{name}",
            envvar=f"BINHAI_CORE_{name.upper()}",
            show_envvar=True,
            type=click.Path(dir_okay=False, exists=True),
            default=None,
            callback=_stash,
            expose_value=False,
            help=what,
        )(f)
    f = click.option(
        "--core-ca",
        envvar="BINHAI_CORE_CA",
        show_envvar=True,
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        callback=_stash,
        expose_value=False,
        help="CA certificate (PEM) to reach the core over TLS; plaintext without it.",
    )(f)
    return click.option(
        "--token",
        envvar="BINHAI_TOKEN",
        show_envvar=True,
        default=None,
        callback=_stash,
        expose_value=False,
        help="Bearer token for a core with authentication on ('binhai token create').",
    )(f)


def core_auth(core_addr: str | None = None) -> Any:
    """The :class:`protos.CoreAuth` of the current command's ``--token`` and ``--core-*``
    options, or None (plaintext, no token).

    With ``core_addr`` (the core the command calls) and no ``--token``/``BINHAI_TOKEN``/TOML
    token: when that is the running ``binhai up --serve`` stack's core, the stack's operator
    token (read from the 0600 file its state names). Never sent to any other core."""
    import protos

    found = click.get_current_context().meta.get(_CORE_AUTH, {})
    token = found.get("token") or (_stack_token(core_addr) if core_addr else None)
    pems: dict[str, bytes | None] = {}
    for key in ("core_ca", "core_cert", "core_key"):
        path = found.get(key)
        try:
            pems[key] = Path(path).read_bytes() if path else None
        except OSError as exc:
            hint = f"--{key.replace('_', '-')}"
            raise click.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint=hint
            ) from exc
    if (pems["core_cert"] is None) != (pems["core_key"] is None):
        raise click.UsageError("--core-cert and --core-key go together")
    if pems["core_cert"] is not None and pems["core_ca"] is None:
        raise click.UsageError("--core-cert needs --core-ca (mutual TLS)")
    if not token and pems["core_ca"] is None:
        return None
    return protos.CoreAuth(
        token=token or None,
        ca_pem=pems["core_ca"],
        cert_pem=pems["core_cert"],
        key_pem=pems["core_key"],
    )


def _stack_token(core_addr: str) -> str | None:
    """The running stack's operator token when every address of ``core_addr`` is its core."""
    from binhai.cli._workdir import state_of

    state = state_of()
    if state is None or not state.token_file:
        return None
    ours = {a.strip() for a in state.core_addr.split(",")}
    if not {a.strip() for a in core_addr.split(",") if a.strip()} <= ours:
        return None
    try:
        return Path(state.token_file).read_text().strip() or None
    except OSError as exc:
        raise click.ClickException(
            f"cannot read the running stack's operator token {state.token_file}: {exc.strerror}"
            " (give --token or BINHAI_TOKEN)"
        ) from exc


_HINTS = {
    "UNAUTHENTICATED": " (give --token or BINHAI_TOKEN; 'binhai token create' makes one)",
    "PERMISSION_DENIED": " (the token's role or tenant does not allow this call)",
}


async def call_core(addr: str, stub: Callable[[Any], Any], method: str, request: Any) -> Any:
    """Call ``method`` of the service ``stub`` (a generated stub class) on the first core of
    ``addr`` with the command's credentials (:func:`core_auth`); a gRPC error becomes a
    one-line :class:`click.ClickException`."""
    import grpc

    import protos

    target = addr.split(",")[0].strip()
    async with protos.core_channel(target, core_auth(addr)) as channel:
        try:
            return await getattr(stub(channel), method)(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
            hint = _HINTS.get(code, "")
            raise click.ClickException(
                f"{method} to {target}: {code}: {exc.details()}{hint}"
            ) from exc
