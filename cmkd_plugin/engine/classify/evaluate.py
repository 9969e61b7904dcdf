"""Accuracy of a class raster against reference labels: OA, kappa, macro-F1, per-class
producer's/user's accuracy and the confusion matrix, as HTML + JSON + CSV + PNG.

The reference is a point/polygon layer with a class field (rasterised onto the class raster's
grid by :func:`~..geo.labels.read_labels`) or a truth raster (read onto that grid with nearest
neighbour, whatever its CRS or resolution). Classes are matched by name; pixels that are nodata
in the map or unlabelled in the reference are not counted. The class raster is read in strips,
so memory does not grow with its size.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..atomic import AtomicOutputs, check_writable
from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import Grid, display_name, open_raster, require_crs
from ..geo.tiling import PixelWindow
from ..geo.write import CLASS_NODATA
from ..models.metrics import accuracy_report, confusion_matrix

STRIP_ROWS = 512
_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".kml", ".gml", ".fgb", ".sqlite"}


@dataclass(frozen=True)
class EvaluationResult:
    """Headline figures and the files written."""

    overall_accuracy: float | None
    kappa: float | None
    macro_f1: float | None
    n_pixels: int
    report: dict[str, Any]
    files: dict[str, str]


def report_paths(output_report: str | os.PathLike[str]) -> dict[str, Path]:
    """The HTML report and the files written beside it (same stem)."""
    html_path = Path(output_report)
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"Report '{html_path}' must end in .html.")
    stem = html_path.with_suffix("")
    return {"html": html_path, "json": stem.with_suffix(".json"),
            "csv": Path(f"{stem}_confusion.csv"), "png": Path(f"{stem}_confusion.png")}


def _names_from_tags(ds: Any) -> tuple[str, ...] | None:
    text = ds.tags(1).get("CLASS_NAMES") or ds.tags().get("CLASS_NAMES")
    if text:
        return tuple(n.strip() for n in text.split(","))
    from osgeo import gdal  # noqa: PLC0415 - category names are not exposed by rasterio

    g = gdal.Open(ds.name)
    if g is None:
        return None
    g.GetGeoTransform()  # GDAL 3.6 loads the PAM sidecar lazily; this triggers it
    names = g.GetRasterBand(1).GetCategoryNames() or []
    g = None
    names = [n for n in names[:CLASS_NODATA]]
    while names and not names[-1]:
        names.pop()
    return tuple(names) if names else None


def _strips(grid: Grid) -> list[PixelWindow]:
    return [PixelWindow(0, r, grid.width, min(STRIP_ROWS, grid.height - r))
            for r in range(0, grid.height, STRIP_ROWS)]


def _read_map_strip(ds: Any, window: PixelWindow) -> np.ndarray:
    return ds.read(1, window=window.to_rasterio())


def _class_names(ds: Any, role: str) -> tuple[str, ...]:
    if ds.count != 1:
        raise InputError(f"{role} raster '{display_name(ds.name)}' has {ds.count} bands; give a "
                         "single-band class raster (the classes output of classify).")
    if np.dtype(ds.dtypes[0]).kind not in "iu":
        raise InputError(f"{role} raster '{display_name(ds.name)}' holds {ds.dtypes[0]} values; "
                         "a class raster holds integer class indices.")
    names = _names_from_tags(ds)
    if names:
        return names
    top = 0
    for w in _strips(Grid.from_dataset(ds)):
        a = _read_map_strip(ds, w)
        a = a[(a != CLASS_NODATA) & (a >= 0)]
        if a.size:
            top = max(top, int(a.max()))
    return tuple(f"class {i}" for i in range(top + 1))


def _is_vector(path: str | os.PathLike[str]) -> bool:
    return Path(str(path)).suffix.lower() in _VECTOR_SUFFIXES


def _confusion_from_vector(ds: Any, grid: Grid, names: tuple[str, ...], reference: str,
                           field: str, feedback: Feedback) -> np.ndarray:
    from ..geo.labels import LabelConfig, read_labels

    labels = read_labels(reference, grid, LabelConfig(field=field, class_names=names,
                                                      min_classes=1), feedback)
    k = len(names)
    cm = np.zeros((k, k), dtype=np.int64)
    strips = _strips(grid)
    for i, w in enumerate(strips):
        feedback.check_cancelled()
        sel = (labels.rows >= w.row_off) & (labels.rows < w.row_off + w.height)
        if sel.any():
            pred = _read_map_strip(ds, w)[labels.rows[sel] - w.row_off, labels.cols[sel]]
            cm += _counts(labels.classes[sel], pred, k)
        feedback.progress(100.0 * (i + 1) / len(strips))
    return cm


def _counts(ref: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    ref = ref.astype(np.int64)
    pred = pred.astype(np.int64)
    keep = (pred != CLASS_NODATA) & (ref != CLASS_NODATA) & (ref >= 0)
    bad = keep & ((pred < 0) | (pred >= k))
    if bad.any():
        raise InputError(f"The class raster holds class index {int(pred[bad][0])}, but only {k} "
                         "class names are known; give the raster written by classify.")
    return confusion_matrix(ref[keep], pred[keep], k)


def _confusion_from_raster(ds: Any, grid: Grid, names: tuple[str, ...], reference: str,
                           feedback: Feedback) -> np.ndarray:
    from ..geo.read import CLASS_CONFIG, AlignedReader, ReaderConfig

    with open_raster(reference, "Reference") as ref_ds:
        ref_names = _names_from_tags(ref_ds) if ref_ds.count == 1 else None
    k = len(names)
    lookup = None
    if ref_names:
        folded = {n.lower(): i for i, n in enumerate(names)}
        unknown = [n for n in ref_names if n and n.lower() not in folded]
        if unknown:
            raise InputError(
                f"Reference raster '{display_name(reference)}' has class(es) "
                + ", ".join(f"'{u}'" for u in unknown) + " that the map does not have ("
                + ", ".join(f"'{n}'" for n in names) + "); give a truth raster with the same classes.")
        lookup = np.full(256, CLASS_NODATA, dtype=np.int64)
        for j, n in enumerate(ref_names):
            if n:
                lookup[j] = folded[n.lower()]
    config = ReaderConfig(**{**CLASS_CONFIG.__dict__, "role": "Reference"})
    cm = np.zeros((k, k), dtype=np.int64)
    with AlignedReader(reference, grid, config) as reader:
        strips = _strips(grid)
        for i, w in enumerate(strips):
            feedback.check_cancelled()
            raw = reader.read_raw(w)[0]
            ref = np.where(np.isfinite(raw), raw, CLASS_NODATA).astype(np.int64)
            ref[(ref < 0) | (ref > 255)] = CLASS_NODATA
            if lookup is not None:
                ref = lookup[ref]
            cm += _counts(ref.ravel(), _read_map_strip(ds, w).ravel(), k)
            feedback.progress(100.0 * (i + 1) / len(strips))
    return cm


def evaluate(classes: str | os.PathLike[str], reference: str | os.PathLike[str], *,
             output_report: str | os.PathLike[str], reference_field: str = "mineral",
             feedback: Feedback | None = None) -> EvaluationResult:
    """Compare a class raster with reference labels and write the report files.

    Args:
        classes: class raster (uint8 indices, nodata 255, class names in its metadata).
        reference: point/polygon layer with a class field, or a truth raster.
        output_report: HTML report; ``.json``, ``_confusion.csv`` and ``_confusion.png`` are
            written beside it with the same stem.
        reference_field: class field of a vector reference.
        feedback: progress, messages, cancellation.

    Raises:
        InputError: unreadable inputs, no CRS, class names that do not match, no overlap, no
            labelled pixel where the map has data.
    """
    feedback = feedback or Feedback()
    paths = report_paths(output_report)
    for p in paths.values():
        check_writable(p)
    if not os.path.exists(str(reference)):
        raise InputError(f"Reference '{reference}' does not exist; choose a label layer or a "
                         "truth raster.")
    with open_raster(classes, "Class") as ds:
        require_crs(ds, "Class")
        grid = Grid.from_dataset(ds)
        names = _class_names(ds, "Class")
        if _is_vector(reference):
            cm = _confusion_from_vector(ds, grid, names, str(reference), reference_field, feedback)
        else:
            cm = _confusion_from_raster(ds, grid, names, str(reference), feedback)
    if cm.sum() == 0:
        raise InputError(
            f"No reference label falls on a classified pixel of '{display_name(classes)}'; check "
            "that the reference covers the mapped area.")
    report = accuracy_report(cm, names)
    report.update({"classes": list(names), "class_raster": display_name(classes),
                   "reference": display_name(reference)})
    with AtomicOutputs() as atomic:
        tmp = {k: atomic.add(v) for k, v in paths.items()}
        tmp["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
        tmp["csv"].write_text(confusion_csv(cm, names), encoding="utf-8")
        write_confusion_png(tmp["png"], cm, names)
        tmp["html"].write_text(render_html(report, paths["png"].name), encoding="utf-8")
    feedback.info(f"OA {_fmt(report['overall_accuracy'])}, kappa {_fmt(report['kappa'])}, "
                  f"macro-F1 {_fmt(report['macro_f1'])} over {report['n_pixels']} pixels.")
    return EvaluationResult(report["overall_accuracy"], report["kappa"], report["macro_f1"],
                            report["n_pixels"], report, {k: str(v) for k, v in paths.items()})


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def confusion_csv(cm: np.ndarray, names: Sequence[str]) -> str:
    """Rows = reference, columns = map, with a header row and column of class names."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["reference \\ map", *names])
    for name, row in zip(names, cm):
        writer.writerow([name, *(int(v) for v in row)])
    return buf.getvalue()


def write_confusion_png(path: str | os.PathLike[str], cm: np.ndarray, names: Sequence[str]) -> None:
    """Confusion matrix heat map (row-normalised colours, counts written in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = 2.0 + 0.6 * k
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=100)
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("map")
    ax.set_ylabel("reference")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, label="share of reference row")
    fig.tight_layout()
    fig.savefig(str(path), format="png")
    plt.close(fig)


def render_html(report: dict[str, Any], png_name: str) -> str:
    """A self-describing HTML report (figures, per-class table, confusion matrix)."""
    e = html.escape
    names = report["classes"]
    per = report["per_class"]
    rows = "\n".join(
        f"<tr><th>{e(n)}</th><td>{per[n]['reference_pixels']}</td>"
        f"<td>{_fmt(per[n]['producers_accuracy'])}</td><td>{_fmt(per[n]['users_accuracy'])}</td>"
        f"<td>{_fmt(per[n]['f1'])}</td></tr>" for n in names)
    cm = report["confusion_matrix"]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    cm_rows = "\n".join(
        f"<tr><th>{e(n)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for n, row in zip(names, cm))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>CMKD Survey accuracy report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}th{{background:#f3f3f3}}</style>
</head><body>
<h1>Accuracy of {e(report['class_raster'])}</h1>
<p>Reference: {e(report['reference'])}; {report['n_pixels']} labelled pixels counted (map nodata
and unlabelled pixels excluded).</p>
<table><tr><th>Overall accuracy</th><td>{_fmt(report['overall_accuracy'])}</td></tr>
<tr><th>Cohen's kappa</th><td>{_fmt(report['kappa'])}</td></tr>
<tr><th>Macro F1</th><td>{_fmt(report['macro_f1'])}</td></tr></table>
<h2>Per class</h2>
<table><tr><th>class</th><th>reference pixels</th><th>producer's accuracy</th>
<th>user's accuracy</th><th>F1</th></tr>
{rows}</table>
<h2>Confusion matrix (rows: reference, columns: map)</h2>
<table><tr><th></th>{head}</tr>
{cm_rows}</table>
<p><img src="{e(png_name)}" alt="confusion matrix"></p>
</body></html>
"""
