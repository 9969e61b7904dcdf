#!/usr/bin/env python3
"""Benchmark of ``adaptsite``: a student trained on one site, adapted with 10 and 20 points.

Source model: the bundled ``earth_carbonation`` student (``resources/models``), trained on the
simulator's scene seed 7 (``scripts/train_default_models.py``, 512 px). New sites:

* ``earth_shifted``: earth_carbonation seed 101 flown under another sun (elevation 25 deg instead
  of 45), with a camera white-balance error (R x1.15, B x0.85) and 3x the sensor noise;
* ``earth_other``: earth_carbonation seed 102 under the preset's conditions;
* ``mars_shared``: a mars_analogue scene (seed 101) scored only on the classes both presets share
  (olivine, basalt), points drawn only on them.

For each site, point count and draw, points are drawn from the site's truth (round-robin over
the classes present, one random pixel each), the student is adapted (``run_adaptation``, default
settings unless told) and scored: OA on the site's truth at every valid pixel except the points
(before = the original student, after = the adapted one) and OA on the original site (seed 7)
before/after. Also reported: the renormalised original alone (no fine-tuning) and, where the site
has classes the model does not know (Mars), the share of their pixels that the model calls one of
the points' classes (scoring on the shared classes alone does not see that price).

Usage::

    python scripts/bench_adaptation.py [--work-dir /tmp/cmkd-bench-adapt] [--draws 2]
        [--points 10 20] [--sites earth_shifted earth_other mars_shared] [--no-renormalise]

Prints a Markdown table ready for the README and writes ``bench_adaptation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import torch  # noqa: E402
from shapely.geometry import Point  # noqa: E402

from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.training.adapt import SiteData, site_cards  # noqa: E402
from cmkd_plugin.engine.training.common import predict_area  # noqa: E402
from cmkd_plugin.engine.training.config import AdaptConfig  # noqa: E402
from cmkd_plugin.engine.training.adapt import run_adaptation  # noqa: E402
from cmkd_plugin.engine.training.data import load_scene  # noqa: E402
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402

MODEL = ROOT / "resources" / "models" / "earth_carbonation_student.cmkd"
SIZE_PX = 512
ORIGINAL = ("earth_carbonation", 7, [])  # the bundled student's training scene
SITES = {
    "earth_shifted": ("earth_carbonation", 101, ["--sun-elevation-deg", "25", "--rgb-gain", "1.15",
                                                 "1.0", "0.85", "--noise-scale", "3"]),
    "earth_other": ("earth_carbonation", 102, []),
    "mars_shared": ("mars_analogue", 101, []),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def simulate(preset: str, seed: int, extra: list[str], folder: Path) -> Path:
    if not (folder / "truth.tif").exists():
        subprocess.run([sys.executable, "-m", "cmkd_plugin.engine", "simulate", "--preset", preset,
                        "--seed", str(seed), "--size-px", str(SIZE_PX), *extra,
                        "--output-dir", str(folder)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return folder


class Site:
    """A scene's RGB on its grid and its truth as indices into the model's classes (255 =
    a class the model does not know)."""

    def __init__(self, folder: Path, preset: str, model_names: tuple[str, ...]) -> None:
        self.folder = folder
        self.scene = load_scene(folder / "rgb.tif", None, None, None, class_names=model_names)
        with rasterio.open(folder / "truth.tif") as ds:
            truth = ds.read(1)
        lookup = np.full(256, 255, dtype=np.uint8)
        for i, c in enumerate(preset_classes(preset)):
            if c.name in model_names:
                lookup[i] = model_names.index(c.name)
        self.truth = lookup[truth]
        self.inputs = {"rgb": np.where(self.scene.valid[None], self.scene.rgb, np.nan)}

    def predict(self, model, cards) -> np.ndarray:
        return predict_area(model, self.inputs, cards)[0].argmax(axis=0)

    def oa(self, pred: np.ndarray, names: tuple[str, ...], exclude: np.ndarray | None = None) -> float:
        mask = self.scene.valid & (self.truth != 255)
        if exclude is not None:
            mask &= ~exclude
        return float(evaluate(self.truth, pred, names, mask)["oa"])

    def others_called(self, pred: np.ndarray, classes: set[int]) -> float | None:
        """Share of the valid pixels of classes the model does not know (truth 255) that
        ``pred`` puts in one of ``classes`` (the classes of the points): the price of scoring a
        site on its shared classes only. None when every class is known."""
        other = self.scene.valid & (self.truth == 255)
        if not other.any():
            return None
        return float(np.isin(pred[other], sorted(classes)).mean())

    def draw_points(self, n: int, seed: int, names: tuple[str, ...], path: Path) -> np.ndarray:
        """``n`` labelled points, round-robin over the classes present, written to ``path``;
        returns the mask of their pixels."""
        rng = np.random.default_rng(seed)
        ok = self.scene.valid & (self.truth != 255)
        classes = [k for k in np.unique(self.truth[ok])]
        rng.shuffle(classes)
        mask = np.zeros_like(ok)
        pts, labels = [], []
        t = self.scene.grid.transform
        for i in range(n):
            k = classes[i % len(classes)]
            rows, cols = np.nonzero(ok & (self.truth == k) & ~mask)
            j = rng.integers(rows.size)
            r, c = int(rows[j]), int(cols[j])
            mask[r, c] = True
            x, y = t * (c + 0.5, r + 0.5)
            pts.append(Point(x, y))
            labels.append(names[k])
        gpd.GeoDataFrame({"mineral": labels}, geometry=pts,
                         crs=self.scene.grid.crs.to_wkt()).to_file(path, driver="GPKG")
        return mask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", "--output-dir", dest="work_dir", type=Path,
                        default=Path("/tmp/cmkd-bench-adapt"),
                        help="scenes, adapted models and bench_adaptation.json (reused if present)")
    parser.add_argument("--sites", nargs="+", default=list(SITES), choices=list(SITES))
    parser.add_argument("--points", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--draws", type=int, default=2, help="point draws per site and count")
    parser.add_argument("--epochs", type=int, default=AdaptConfig().epochs)
    parser.add_argument("--freeze", default=AdaptConfig().freeze)
    parser.add_argument("--keep-weight", type=float, default=AdaptConfig().keep_weight)
    parser.add_argument("--learning-rate", type=float, default=AdaptConfig().learning_rate)
    parser.add_argument("--renormalise", action=argparse.BooleanOptionalAction,
                        default=AdaptConfig().renormalise)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    fb = Feedback(on_warning=lambda m: log("warning: " + m))
    model, card = load_model(MODEL, "student")
    names = card.class_names
    cards = {m.name: m for m in card.modalities}
    original = Site(simulate(ORIGINAL[0], ORIGINAL[1], ORIGINAL[2], args.work_dir / "original"),
                    ORIGINAL[0], names)
    orig_before = original.oa(original.predict(model, cards), names)
    log(f"original site: OA {orig_before:.3f}")
    previous = args.work_dir / "bench_adaptation.json"
    kept = json.loads(previous.read_text())["sites"] if previous.exists() else {}
    results: dict = {"model": MODEL.name, "original_site_oa": orig_before, "settings": {
        "epochs": args.epochs, "freeze": args.freeze, "keep_weight": args.keep_weight,
        "renormalise": args.renormalise, "learning_rate": args.learning_rate},
        # Sites of an earlier run in the same folder are kept (same settings assumed).
        "sites": {k: v for k, v in kept.items() if k not in args.sites}}
    for name in args.sites:
        preset, seed, extra = SITES[name]
        site = Site(simulate(preset, seed, extra, args.work_dir / name), preset, names)
        before_pred = site.predict(model, cards)
        dummy = SiteData(site.inputs, site.scene.valid, np.full(site.scene.valid.shape, 255, np.uint8), {}, {})
        renorm_pred = site.predict(model, site_cards(card, dummy, True))
        runs = []
        for n in args.points:
            for draw in range(args.draws):
                run_dir = args.work_dir / name / f"p{n}_d{draw}"
                run_dir.mkdir(exist_ok=True)
                points = site.draw_points(n, 1000 * n + draw, names, run_dir / "points.gpkg")
                t0 = time.perf_counter()
                run = run_adaptation(
                    str(MODEL), str(site.folder / "rgb.tif"), None, None, str(run_dir / "points.gpkg"),
                    str(run_dir / "adapted.cmkd"), str(run_dir / "adapted.html"),
                    AdaptConfig(epochs=args.epochs, freeze=args.freeze, keep_weight=args.keep_weight,
                                renormalise=args.renormalise,
                                learning_rate=args.learning_rate, seed=draw), feedback=fb)
                seconds = time.perf_counter() - t0
                a_cards = {m.name: m for m in run.card.modalities}
                after_pred = site.predict(run.model, a_cards)
                point_classes = set(np.unique(site.truth[points]).tolist())
                r = {"points": n, "draw": draw, "seconds": seconds,
                     "site_before": site.oa(before_pred, names, points),
                     "site_renormalised_only": site.oa(renorm_pred, names, points),
                     "site_after": site.oa(after_pred, names, points),
                     "others_called_before": site.others_called(before_pred, point_classes),
                     "others_called_after": site.others_called(after_pred, point_classes),
                     "original_after": original.oa(original.predict(run.model, a_cards), names),
                     "agreement": run.outputs["AGREEMENT"]}
                runs.append(r)
                log(f"{name} {n} points draw {draw}: site {r['site_before']:.3f} -> "
                    f"{r['site_after']:.3f} (renormalised only {r['site_renormalised_only']:.3f}); "
                    f"original {orig_before:.3f} -> {r['original_after']:.3f}; {seconds:.0f} s")
                results["sites"][name] = runs
                (args.work_dir / "bench_adaptation.json").write_text(json.dumps(results, indent=2))

    print("| new site | points | draws | site OA before | renormalised only | site OA after | gain "
          "(pts) | original-site OA before → after | change (pts) | unknown-class pixels called a "
          "point class, before → after | s / run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in results["sites"].items():
        for n in sorted({r["points"] for r in runs}):
            rs = [r for r in runs if r["points"] == n]

            def mean(key: str) -> float:
                return float(np.mean([r[key] for r in rs]))

            others = "–"
            if rs and rs[0].get("others_called_after") is not None:
                others = f"{mean('others_called_before'):.3f} → {mean('others_called_after'):.3f}"

            print(f"| {name} | {n} | {len(rs)} | {mean('site_before'):.3f} | "
                  f"{mean('site_renormalised_only'):.3f} | {mean('site_after'):.3f} | "
                  f"{100 * (mean('site_after') - mean('site_before')):+.1f} | "
                  f"{orig_before:.3f} → {mean('original_after'):.3f} | "
                  f"{100 * (mean('original_after') - orig_before):+.1f} | {others} | "
                  f"{mean('seconds'):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
