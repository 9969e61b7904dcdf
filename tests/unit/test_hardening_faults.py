"""Faults, with the real engine in a child process (``launcher.run_engine``): killed mid-write
(SIGKILL, no chance to clean up), cancelled mid-write and mid-training, and two runs writing the
same output at once. Every time: a clear error, no partial file, the previous output intact, and
any file that is there is complete (readable, self-consistent), never a mix of two runs."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cmkd_plugin.engine import launcher
from cmkd_plugin.engine.atomic import PARTIAL_MARK
from cmkd_plugin.engine.errors import CancelledError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402

SIM_OUTPUTS = ("rgb.tif", "hsi.tif", "dem.tif", "truth.tif", "labels.gpkg", "sites.gpkg",
               "hsi_footprint.gpkg", "preview.png")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; the engine is the launcher's only child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if PARTIAL_MARK in p.name]


def _previous_outputs(folder: Path) -> dict[str, str]:
    """Stand-ins for the outputs of an earlier run, which a failed run must not touch."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SIM_OUTPUTS:
        (folder / name).write_bytes(f"previous {name}".encode())
    return {name: _sha(folder / name) for name in SIM_OUTPUTS}


def _simulate_args(out: Path, size_px: int = 1024) -> list[str]:
    return ["--preset", "earth_carbonation", "--size-px", str(size_px), "--hsi-bands", "32",
            "--labels-per-class", "2", "--output-dir", str(out)]


def _sim_paths(out: Path) -> list[str]:
    return [str(out / n) for n in SIM_OUTPUTS]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the engine")
def test_engine_killed_mid_write_leaves_previous_outputs_and_no_partials(engine_python: str,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "scene"
    before = _previous_outputs(out)
    killed: list[str] = []

    def kill_when_writing() -> bool:
        # SIGKILL the engine the moment its first partial file exists: it cannot clean up.
        if not killed and _partials(out):
            for pid in _children(os.getpid()):
                os.kill(pid, signal.SIGKILL)
                killed.append(str(pid))
        return False

    cb = launcher.EngineCallbacks(is_cancelled=kill_when_writing, poll_interval_s=0.01)
    with pytest.raises(launcher.EngineRunError, match=r"ended with exit code -9 without a result"):
        launcher.run_engine(engine_python, "simulate", _simulate_args(out), cb,
                            outputs=_sim_paths(out))
    assert killed, "the engine finished before it could be killed; the test proves nothing"
    assert _partials(out) == [], "the launcher must remove a killed engine's partial files"
    assert {n: _sha(out / n) for n in SIM_OUTPUTS} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(SIM_OUTPUTS)


def test_engine_cancelled_mid_write_leaves_previous_outputs(engine_python: str, tmp_path: Path) -> None:
    out = tmp_path / "scene"
    before = _previous_outputs(out)
    seen: list[bool] = []

    def cancel_when_writing() -> bool:
        if _partials(out):
            seen.append(True)
        return bool(seen)

    cb = launcher.EngineCallbacks(is_cancelled=cancel_when_writing, poll_interval_s=0.01)
    with pytest.raises(CancelledError):
        launcher.run_engine(engine_python, "simulate", _simulate_args(out), cb,
                            outputs=_sim_paths(out))
    assert seen, "the engine finished before the cancel; the test proves nothing"
    assert _partials(out) == []
    assert {n: _sha(out / n) for n in SIM_OUTPUTS} == before


def test_training_cancelled_keeps_the_previous_model(engine_python: str, tmp_path: Path) -> None:
    d = tmp_path / "in"
    rgb, hsi, dem = H.write_rgb(d / "rgb.tif"), H.write_hsi(d / "hsi.tif"), H.write_dem(d / "dem.tif")
    labels = H.write_labels(d / "labels.gpkg")
    out = tmp_path / "out"
    previous = H.write_teacher(out / "teacher.safetensors")
    before = _sha(previous)
    inputs = H.file_hashes([d])
    progress: list[float] = []
    cb = launcher.EngineCallbacks(progress=progress.append,
                                  is_cancelled=lambda: bool(progress),
                                  poll_interval_s=0.02)
    args = ["--rgb", str(rgb), "--hsi", str(hsi), "--dem", str(dem), "--labels", str(labels),
            "--epochs", "50", "--block-size-px", "16", "--output-model", str(previous),
            "--output-report", str(out / "teacher.html")]
    with pytest.raises(CancelledError):
        launcher.run_engine(engine_python, "trainteacher", args, cb,
                            outputs=[str(previous), str(out / "teacher.html"),
                                     str(out / "teacher.json")])
    assert progress, "no progress before the cancel"
    assert _sha(previous) == before
    assert sorted(p.name for p in out.iterdir()) == ["teacher.safetensors"]
    assert H.file_hashes([d]) == inputs


def test_two_runs_writing_the_same_output_leave_one_complete_file(engine_python: str,
                                                                   tmp_path: Path) -> None:
    # Two carbonation runs with different SCALEs write the same rate raster at the same time.
    # The survivor must be one run's raster entirely: rate / reference ratio equal to one SCALE
    # at every pixel, and its SCALE tag that same SCALE.
    probs = H.write_probabilities(tmp_path / "p.tif", H.probabilities_array(700, 700))
    coef = tmp_path / "c.csv"
    coef.write_text("class,coefficient,unit,source\ncalcite,0.2,relative,t\n"
                    "serpentine,0.45,relative,t\nolivine,0.85,relative,t\n", encoding="utf-8")
    rate = tmp_path / "out" / "rate.tif"
    scales = (10.0, 20.0)
    results: dict[float, object] = {}

    def run(scale: float) -> None:
        try:
            results[scale] = launcher.run_engine(
                engine_python, "carbonation",
                ["--probabilities", str(probs), "--coefficients", str(coef), "--scale", str(scale),
                 "--output-rate", str(rate), "--block-size", "128"], outputs=[str(rate)])
        except Exception as exc:  # noqa: BLE001 - recorded and checked below
            results[scale] = exc

    threads = [threading.Thread(target=run, args=(s,)) for s in scales]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for s in scales:
        assert isinstance(results[s], dict), f"run with SCALE {s} failed: {results[s]!r}"
    with rasterio.open(probs) as src:
        p = src.read().astype(np.float64)
    reference = (p * np.array([0.2, 0.45, 0.85])[:, None, None]).sum(axis=0)
    with rasterio.open(rate) as ds:
        values = ds.read(1).astype(np.float64)
        tag = float(ds.tags()["CMKD_SCALE_T_CO2_PER_HA_YR"])
    ratio = values / reference
    assert tag in scales
    np.testing.assert_allclose(ratio, tag, rtol=1e-5)
    assert _partials(rate.parent) == []


def test_refusals_reach_the_caller_through_the_launcher(engine_python: str, tmp_path: Path) -> None:
    # The matrix runs the command line in-process; this checks the same refusals out of process.
    rgb = H.write_rgb(tmp_path / "in" / "rgb.tif")
    junk = H.garbage(tmp_path / "in" / "model.safetensors")
    before = H.file_hashes([tmp_path / "in"])
    out = tmp_path / "out" / "c.tif"
    with pytest.raises(launcher.EngineRunError) as info:
        launcher.run_engine(engine_python, "classify",
                            ["--model", str(junk), "--rgb", str(rgb), "--output-classes", str(out)],
                            outputs=[str(out)])
    assert info.value.kind == "model" and "model.safetensors" in str(info.value)
    probs = H.write_probabilities(tmp_path / "in" / "p.tif")
    before = H.file_hashes([tmp_path / "in"])
    with H.tiny_filesystem(tmp_path / "full", fill=True) as full:
        with pytest.raises(launcher.EngineRunError, match="disk is full") as info:
            launcher.run_engine(engine_python, "carbonation",
                                ["--probabilities", str(probs), "--output-rate", str(full / "r.tif")],
                                outputs=[str(full / "r.tif")])
        assert info.value.kind == "resources"
        assert sorted(p.name for p in full.iterdir()) == ["filler.bin"]
    assert not out.exists() and H.file_hashes([tmp_path / "in"]) == before
