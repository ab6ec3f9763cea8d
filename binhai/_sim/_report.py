"""The evaluation report: PNG plots and one self-contained ``report.html`` (plots inlined).

Plots: event recall against rho (log scale), one curve per policy — the Pareto picture; recall
and p95 latency per event kind; uplink bytes per device-hour; lost and duplicated batches.
"""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_TABLE = (
    "policy", "budget", "rho", "event_recall", "evidence_recall", "alert_precision",
    "latency_p50_windows", "latency_p95_windows", "latency_p95_windows_online",
    "bytes_per_device_hour", "alerts",
    "lost", "duplicates",
)  # fmt: skip


def _label(row: dict[str, Any]) -> str:
    return row["policy"] if row["budget"] is None else f"{row['policy']} @ {row['budget']:g}"


def _pareto(rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    by_policy: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_policy[r["policy"]].append(r)
    for policy, rs in by_policy.items():
        rs = sorted(rs, key=lambda r: r["rho"] or 0)
        xs = [max(r["rho"] or 1e-6, 1e-6) for r in rs]
        ys = [r["event_recall"] or 0 for r in rs]
        ax.plot(xs, ys, marker="o", label=policy)
    ax.set_xscale("log")
    ax.set_xlabel("rho = uplink bytes / all-cloud bytes (log)")
    ax.set_ylabel("event recall")
    ax.set_ylim(0, 1.05)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Event recall against bytes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _per_kind(rows: list[dict[str, Any]], path: Path) -> None:
    kinds = sorted({k for r in rows for k in r["per_kind"]})
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    width = 0.8 / max(1, len(rows))
    for i, r in enumerate(rows):
        xs = [j + i * width for j in range(len(kinds))]
        pk = r["per_kind"]
        ax1.bar(xs, [pk.get(k, {}).get("recall") or 0 for k in kinds], width, label=_label(r))
        lat = [pk.get(k, {}).get("latency_p95_windows") or 0 for k in kinds]
        ax2.bar(xs, lat, width)
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(kinds))], kinds, rotation=30)
    ax1.set_ylabel("recall")
    ax2.set_ylabel("p95 latency (windows)")
    ax1.legend(fontsize=6, ncol=3)
    ax1.set_title("Recall and latency per event kind")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(rows: list[dict[str, Any]], path: Path, keys: tuple[str, ...], title: str) -> None:
    fig, ax = plt.subplots(figsize=(10, 4.5))
    labels = [_label(r) for r in rows]
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        ax.bar(
            [j + i * width for j in range(len(rows))], [r[key] or 0 for r in rows], width, label=key
        )
    ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
    if keys == ("bytes_per_device_hour",):
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: dict[str, Any], directory: Path) -> Path:
    """Write the plots and report.html under ``directory``; return the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = out["results"]
    plots = {
        "pareto.png": "Event recall against log rho (the Pareto picture)",
        "per_kind.png": "Recall and p95 latency per event kind",
        "bytes.png": "Uplink bytes per device-hour",
        "delivery.png": "Lost and duplicated batches under device and network faults",
    }
    _pareto(rows, directory / "pareto.png")
    _per_kind(rows, directory / "per_kind.png")
    _bars(rows, directory / "bytes.png", ("bytes_per_device_hour",), "Bytes per device-hour")
    _bars(rows, directory / "delivery.png", ("lost", "duplicates"), "Delivery")
    head = "".join(f"<th>{html.escape(k)}</th>" for k in _TABLE)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k in _TABLE) + "</tr>"
        for r in rows
    )
    figures = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{name}' src='data:image/png;base64,"
        f"{base64.b64encode((directory / name).read_bytes()).decode()}'>"
        for name, title in plots.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>binhai sim eval — {html.escape(out["scenario"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>binhai sim eval — scenario {html.escape(out["scenario"])}, seed {out["seed"]}</h1>
<table><tr>{head}</tr>{body}</table>{figures}
<h2>Data</h2><pre>{html.escape(json.dumps(out, indent=1))}</pre>
</body></html>"""
    path = directory / "report.html"
    path.write_text(page)
    return path
