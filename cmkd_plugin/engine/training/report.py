"""Training reports: a JSON document and a self-contained HTML page (confusion matrices
embedded as a PNG drawn with matplotlib's Agg backend) comparing teacher, student and baseline."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# "original" and "adapted": the two sides of a site adaptation (``adaptsite``).
ROLES = ("teacher", "intermediate", "student", "baseline", "original", "adapted")


def model_cost(model: Any, bands: Mapping[str, int], tile_px: int = 128) -> dict[str, Any]:
    """Parameters, FLOPs per pixel (2 x multiply-adds) and measured CPU throughput (Mpx/s) on
    one ``tile_px`` tile, from :func:`..models.flops.cost_summary`."""
    import torch

    from ..models.flops import cost_summary

    torch.manual_seed(0)
    x = {n: torch.rand(1, b, tile_px, tile_px) for n, b in bands.items()}
    c = cost_summary(model, x)
    return {
        "parameters": int(c["parameters"]),
        "flops_per_pixel": int(round(2 * c["macs_per_pixel"])),
        "throughput_mpx_per_s": round(float(c["throughput_mpx_per_s"]), 4),
        "throughput_threads": int(c["threads"]),
    }


def headline(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """OA of each role, retention (student / teacher) and gain (student - baseline)."""
    def oa(role: str) -> float | None:
        return (metrics.get(role) or {}).get("oa")

    t, s, b = oa("teacher"), oa("student"), oa("baseline")
    return {
        "teacher_oa": t,
        "student_oa": s,
        "baseline_oa": b,
        "retention": (s / t) if (s is not None and t) else None,
        "gain": (s - b) if (s is not None and b is not None) else None,
    }


def confusion_png(metrics: Mapping[str, Mapping[str, Any]], class_names: Sequence[str]) -> bytes:
    """A PNG with one row-normalised confusion matrix per role that has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roles = [r for r in ROLES if (metrics.get(r) or {}).get("confusion")]
    n = max(1, len(roles))
    k = len(class_names)
    side = 2.5 + 0.35 * k
    fig, axes = plt.subplots(1, n, figsize=(side * n, side + 0.6), squeeze=False)
    for ax, role in zip(axes[0], roles):
        cm = np.asarray(metrics[role]["confusion"], dtype=float)
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        oa = metrics[role].get("oa")
        ax.set_title(f"{role} (OA {oa:.3f})" if oa is not None else role, fontsize=10)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(class_names, rotation=90, fontsize=7)
        ax.set_yticklabels(class_names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("reference", fontsize=8)
    for ax in axes[0][len(roles):]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v))


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained HTML page of ``report`` (see :func:`build_report`)."""
    metrics = report["metrics"]
    costs = report.get("cost", {})
    names = report["class_names"]
    roles = [r for r in ROLES if r in metrics or r in costs]
    head = "".join(f"<th>{r}</th>" for r in roles)

    def row(label: str, values: list[Any]) -> str:
        return f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{_fmt(v)}</td>" for v in values) + "</tr>"

    rows = [
        row("Overall accuracy", [(metrics.get(r) or {}).get("oa") for r in roles]),
        row("Cohen's kappa", [(metrics.get(r) or {}).get("kappa") for r in roles]),
        row("Macro F1", [(metrics.get(r) or {}).get("macro_f1") for r in roles]),
        row("Evaluated pixels", [(metrics.get(r) or {}).get("pixels") for r in roles]),
        row("Parameters", [(costs.get(r) or {}).get("parameters") for r in roles]),
        row("FLOPs / pixel", [(costs.get(r) or {}).get("flops_per_pixel") for r in roles]),
        row("CPU throughput (Mpx/s)", [(costs.get(r) or {}).get("throughput_mpx_per_s") for r in roles]),
    ]
    for name in names:
        rows.append(row(f"F1 {name}", [((metrics.get(r) or {}).get("per_class_f1") or {}).get(name)
                                       for r in roles]))
    split = (report.get("training") or {}).get("split") or {}
    labels = ""
    if split.get("train_counts"):
        # What each class was learnt from: labels are few, and a class with none in training
        # cannot be mapped however good the rest is.
        labels = ("<h2>Labelled pixels per class (teacher grid)</h2><table><tr><th></th>"
                  "<th>training</th><th>validation</th></tr>" + "".join(
                      f"<tr><th>{html.escape(n)}</th><td>{t}</td><td>{v}</td></tr>"
                      for n, t, v in zip(names, split["train_counts"], split["val_counts"]))
                  + "</table>")
    h = report.get("headline", {})
    summary = "".join(f"<li>{html.escape(k)}: {_fmt(v)}</li>" for k, v in h.items())
    png = base64.b64encode(confusion_png(metrics, names)).decode("ascii")
    details = html.escape(json.dumps({k: v for k, v in report.items() if k not in ("metrics",)},
                                     indent=2, ensure_ascii=False, default=str))
    title = html.escape(report.get("title", "CMKD Survey training report"))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:70em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "th{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(report.get('evaluation', ''))}</p><ul>{summary}</ul>"
        f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>{labels}"
        f"<h2>Confusion matrices (rows: reference, normalised)</h2>"
        f"<img alt='confusion matrices' src='data:image/png;base64,{png}'>"
        f"<h2>Details</h2><pre>{details}</pre></body></html>\n"
    )


def build_report(title: str, class_names: Sequence[str], metrics: Mapping[str, Any],
                 cost: Mapping[str, Any], evaluation: str, **extra: Any) -> dict[str, Any]:
    """The report dict: metrics and cost per role, headline figures, anything in ``extra``."""
    return {
        "title": title,
        "class_names": list(class_names),
        "evaluation": evaluation,
        "headline": headline(metrics),
        "metrics": dict(metrics),
        "cost": dict(cost),
        **extra,
    }


def json_twin(html_path: str | Path) -> Path:
    """The JSON file written beside an HTML report (same name, ``.json``)."""
    p = Path(html_path)
    return p.with_suffix(".json") if p.suffix.lower() in (".html", ".htm") else p.with_name(p.name + ".json")


def write_report(report: Mapping[str, Any], html_tmp: Path, json_tmp: Path) -> None:
    """Write the HTML and JSON files (to partial paths given by an :class:`AtomicOutputs`)."""
    Path(json_tmp).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n",
                              encoding="utf-8")
    Path(html_tmp).write_text(render_html(report), encoding="utf-8")
