"""``binhai bench kernels``: features, codec, memory bandwidth and cold start, side by side."""

from __future__ import annotations

import json
from typing import Any

import click

_STEPS = 7


@click.command("kernels")
@click.option("--windows", default=20_000, show_default=True, help="Windows in the batch.")
@click.option("--n", "n", default=256, show_default=True, help="Samples per window.")
@click.option(
    "--scipy-windows", default=300, show_default=True, help="Windows timed in the SciPy loop."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def kernels_cmd(windows: int, n: int, scipy_windows: int, as_json: bool) -> None:
    """Benchmark the kernels against NumPy, SciPy and the peer codecs in one run.

    Prints absolute figures and the ratios against the baselines; targets are shown next to
    them. Timings are best-of-N on this machine, with all of Numba's threads.

    \b
    Examples:
      binhai bench kernels
      binhai bench kernels --windows 5000 --json | tail -1 | jq .speedup_vs_numpy
    """
    if windows < 1 or n < 16:
        raise click.BadParameter("need --windows >= 1 and --n >= 16")
    from rich.console import Console
    from rich.progress import Progress

    from binhai.bench import kernels as _bench

    err = Console(stderr=True)
    res: dict[str, Any] = {}
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("benchmarking kernels", total=_STEPS)
        for step, partial in _bench.run(windows=windows, n=n, scipy_windows=scipy_windows):
            res = partial
            progress.update(task, advance=1, description=f"done: {step}")
    if as_json:
        click.echo(json.dumps(res, sort_keys=True))
    else:
        click.echo(render(res))


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "n/a" if v is None else format(v, spec)


def render(r: dict[str, Any]) -> str:
    """Human-readable report of a :func:`binhai.bench.kernels.run` result."""
    c = r["codec"]
    lines = [
        f"kernels benchmark: {r['windows']} windows x {r['n']} float32, "
        f"{r['threads']} Numba threads on {r['cpus']} CPUs",
        "",
        "features (all, batch)",
        f"  numba batch        {r['batch_s'] * 1e3:8.1f} ms  "
        f"({r['batch_windows_per_s'] / 1e6:.2f} M windows/s)",
        f"  numpy vectorised   {r['numpy_s'] * 1e3:8.1f} ms  "
        f"speed-up {r['speedup_vs_numpy']:.1f}x  (target >= 3x)",
        f"  scipy per window   {_fmt(r['scipy_s_scaled'] and r['scipy_s_scaled'] * 1e3)} ms "
        f"(scaled)  speed-up {_fmt(r['speedup_vs_scipy'])}x  (target >= 50x)",
        f"  single window      {r['single_window_us']:8.2f} us  (target <= 20 us)",
        "",
        "memory",
        f"  numpy copy         {r['copy_bandwidth_gb_s']:8.2f} GB/s (read + write)",
        f"  batched stats      {r['stats_read_gb_s']:8.2f} GB/s read = "
        f"{100 * r['stats_fraction_of_bandwidth']:.0f}% of copy bandwidth  (target >= 25%)",
        "",
    ]
    lines += render_codec(c)
    lines += [
        "",
        "cold start (import + first calls, fresh process)",
        f"  empty Numba cache  {r['cold_start']['empty_cache_s']:8.2f} s",
        f"  warm Numba cache   {r['cold_start']['warm_cache_s']:8.2f} s",
    ]
    return "\n".join(lines)


_PEERS = (
    ("gorilla", "gorilla"),
    ("zstd3", "zstd-3"),
    ("pcodec", "pcodec"),
    ("blosc2_bytedelta", "blosc2-bd"),
)


def render_codec(c: dict[str, Any]) -> list[str]:
    """The codec table: bytes/sample per corpus per codec, ours ÷ the best peer."""
    head = "".join(f" {label:>9}" for _, label in _PEERS)
    lines = [
        "codec, bytes/sample, each window compressed alone (raw float32 = 4)",
        f"  {'corpus':18} {'ours':>7}{head}  ours/best  (target <= 0.90)",
    ]
    names = c["corpora"]
    for name in names:
        s = c[name]
        cols = "".join(f" {_fmt(s[f'{key}_bytes_per_sample'], '9.3f'):>9}" for key, _ in _PEERS)
        tag = "" if s["recorded"] else " (synthetic)"
        ratio = _fmt(s["ratio_vs_best_peer"], "9.2f")
        lines.append(f"  {name:18} {s['bytes_per_sample']:7.3f}{cols}  {ratio:>9}{tag}")
    missing = [k for k, ok in c["peers_available"].items() if not ok]
    if missing or not c["recorded_available"]:
        lines.append("  (pip install 'binhai[dev]' for the peers and the recorded corpora)")
    speeds = ", ".join(f"{n} {c[n]['encode_mb_s']:.0f}/{c[n]['decode_mb_s']:.0f}" for n in names)
    lines += [
        f"  encode {c['encode_mb_s']:.0f} MB/s, decode {c['decode_mb_s']:.0f} MB/s on noisy_accel "
        "(one core, targets >= 200 / >= 500); one 768-sample window encodes in "
        f"{c['encode_window_us']:.1f} us",
        f"  encode/decode MB/s per corpus: {speeds}",
    ]
    return lines
