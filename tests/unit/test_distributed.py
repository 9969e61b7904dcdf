"""Distributed classification on a real Dask LocalCluster (2 worker processes, loopback only):
output identical to a local run, identical again when a worker is killed mid-run, and an
unreachable scheduler is a clear error within a bounded time with nothing written."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.classify.config import ClassifyConfig
from cmkd_plugin.engine.classify.pipeline import classify
from cmkd_plugin.engine.distributed.client import CONNECT_TIMEOUT_S, blocks
from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.geo.tiling import StitchPlan, TilingConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import save_tiny_student  # noqa: E402

distributed = pytest.importorskip("distributed")

LOCAL = ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=2, device="cpu")
OUTPUTS = ("classes", "probabilities", "confidence")


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(4)
    h, w = 300, 340  # not multiples of the 48 px stride: edge windows are partial
    small = rng.random((3, h // 10 + 2, w // 10 + 2))
    data = (np.kron(small, np.ones((10, 10)))[:, :h, :w] * 250 + 1).astype("uint8")
    data[:, 120:150, 200:260] = 0  # a nodata hole
    rgb = root / "rgb.tif"
    with rasterio.open(rgb, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                       crs=CRS.from_epsg(32633), nodata=0,
                       transform=Affine(1.0, 0, 500_000.0, 0, -1.0, 4_100_000.0)) as dst:
        dst.write(data)
    model, _card = save_tiny_student(
        root / "student.cmkd", (("calcite", "#1f77b4"), ("serpentine", "#2ca02c"), ("olivine", "#d62728")),
        seed=2, encoder_depth=2)
    return rgb, model


def run(files: tuple[Path, Path], out: Path, config: ClassifyConfig,
        feedback: Feedback | None = None) -> dict[str, np.ndarray]:
    rgb, model = files
    paths = {k: out / f"{k}.tif" for k in OUTPUTS}
    classify(model, rgb, output_classes=paths["classes"],
             output_probabilities=paths["probabilities"], output_confidence=paths["confidence"],
             config=config, feedback=feedback)
    arrays = {}
    for key, path in paths.items():
        with rasterio.open(path) as ds:
            arrays[key] = ds.read()
    return arrays


def assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for key in OUTPUTS:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # NaN == NaN here


def test_blocks_cover_the_plan_in_whole_batches() -> None:
    plan = StitchPlan(340, 300, TilingConfig(64, 16))
    got = list(blocks(plan, batch_size=3, batches_per_block=2))
    assert [t for _first, block in got for t in block] == list(plan)
    assert all(len(block) == 6 for _first, block in got[:-1]) and 1 <= len(got[-1][1]) <= 6
    assert [first for first, _ in got] == list(range(0, len(plan), 6))


def test_distributed_output_identical_to_local(cluster: object, files: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    local = run(files, tmp_path / "local", LOCAL)
    assert (local["classes"] == 255).any() and (local["classes"] != 255).any()
    infos: list[str] = []
    progress: list[float] = []
    dist = run(files, tmp_path / "dist", ClassifyConfig(
        tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
        dask_scheduler=cluster.scheduler_address),  # type: ignore[attr-defined]
        Feedback(on_info=infos.append, on_progress=progress.append))
    assert_identical(local, dist)
    assert any("2 worker(s)" in m for m in infos)
    assert progress == sorted(progress) and progress[-1] == 100
    assert len(progress) > 5  # streamed per block, not once at the end


def test_killed_worker_blocks_are_retried_and_output_is_identical(
        cluster: object, files: tuple[Path, Path], tmp_path: Path) -> None:
    local = run(files, tmp_path / "local", LOCAL)
    with distributed.Client(cluster.scheduler_address, timeout="10s") as client:  # type: ignore[attr-defined]
        pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed: list[float] = []

    def kill_once(percent: float) -> None:
        if not killed and 0 < percent < 60:
            os.kill(victim, signal.SIGKILL)
            killed.append(percent)

    dist = run(files, tmp_path / "dist", ClassifyConfig(
        tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
        dask_scheduler=cluster.scheduler_address),  # type: ignore[attr-defined]
        Feedback(on_progress=kill_once))
    assert killed, "the worker was never killed: the run finished in one block"
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    assert_identical(local, dist)
    # The nanny restarts the worker; wait so later tests get two workers again.
    with distributed.Client(cluster.scheduler_address, timeout="10s") as client:  # type: ignore[attr-defined]
        client.wait_for_workers(2, timeout=60)


def test_cancel_during_a_distributed_run_leaves_nothing(cluster: object,
                                                        files: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    from cmkd_plugin.engine.errors import CancelledError

    seen: list[float] = []
    out = tmp_path / "out"
    with pytest.raises(CancelledError):
        run(files, out, ClassifyConfig(
            tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
            dask_scheduler=cluster.scheduler_address),  # type: ignore[attr-defined]
            Feedback(on_progress=seen.append, is_cancelled=lambda: any(0 < p < 100 for p in seen)))
    assert seen and max(seen) < 100
    assert not out.exists() or not any(out.iterdir())


def test_unreachable_scheduler_is_a_clear_error_in_bounded_time(files: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    start = time.monotonic()
    with pytest.raises(InputError, match=r"Cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:1'.*dask scheduler"):
        run(files, out, ClassifyConfig(tile_size_px=64, overlap_px=16, device="cpu",
                                       dask_scheduler="tcp://127.0.0.1:1"))
    assert time.monotonic() - start < CONNECT_TIMEOUT_S + 10
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(InputError, match="must be an address"):
        ClassifyConfig(dask_scheduler="127.0.0.1:8786")


@pytest.mark.slow
def test_command_line_dask_scheduler(cluster: object, files: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rgb, model = files
    code = cli.main(["classify", "--model", str(model), "--rgb", str(rgb), "--tile-size", "64",
                     "--overlap", "16", "--batch-size", "2", "--device", "cpu",
                     "--dask-scheduler", cluster.scheduler_address,  # type: ignore[attr-defined]
                     "--output-classes", str(tmp_path / "c.tif")])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["OUTPUT_CLASSES"] == str(tmp_path / "c.tif")
    local = run(files, tmp_path / "local", LOCAL)
    with rasterio.open(tmp_path / "c.tif") as ds:
        np.testing.assert_array_equal(ds.read(), local["classes"])


def test_a_rewritten_model_file_gets_a_new_cache_key(files: tuple[Path, Path], tmp_path: Path) -> None:
    from cmkd_plugin.engine.distributed.worker import BlockSpec

    rgb, model = files
    copy = tmp_path / "student.cmkd"
    copy.write_bytes(model.read_bytes())
    first = BlockSpec.create(str(copy), str(rgb), None, "/vsicurl/https://example.org/dem.tif", LOCAL)
    assert first == BlockSpec.create(str(copy), str(rgb), None, "/vsicurl/https://example.org/dem.tif", LOCAL)
    assert first.stamps[0] is not None and first.stamps[3] is None
    os.utime(copy, (time.time() + 60, time.time() + 60))
    assert BlockSpec.create(str(copy), str(rgb), None, "/vsicurl/https://example.org/dem.tif", LOCAL) != first


@pytest.mark.slow
def test_distributed_onnx_model_identical_to_local(cluster: object, files: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    from cmkd_plugin.engine.edge.export import export_onnx

    rgb, model = files
    exported = export_onnx(model, tmp_path / "student.onnx", quantize=True)
    for onnx_model in (exported.onnx_path, exported.int8_path):
        assert onnx_model is not None
        local = run((rgb, onnx_model), tmp_path / f"local_{onnx_model.stem}", LOCAL)
        dist = run((rgb, onnx_model), tmp_path / f"dist_{onnx_model.stem}", ClassifyConfig(
            tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
            dask_scheduler=cluster.scheduler_address))  # type: ignore[attr-defined]
        assert_identical(local, dist)


@pytest.mark.parametrize("teacher_grid", ["rgb", "own"])
def test_distributed_teacher_is_refined_like_a_local_run(cluster: object, tmp_path: Path,
                                                        teacher_grid: str) -> None:
    from tiny_scene import train_tiny_teacher, write_scene

    scene = write_scene(tmp_path / "scene")  # RGB 0.5 m under 2 m HSI: refined, radius 3
    teacher = train_tiny_teacher(scene, tmp_path / "teacher", epochs=1)
    maps = {}
    for name, config in (
            ("local", replace(LOCAL, teacher_grid=teacher_grid)),
            ("dist", ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
                                    dask_scheduler=cluster.scheduler_address,  # type: ignore[attr-defined]
                                    teacher_grid=teacher_grid)),
            ("raw", ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=2, device="cpu",
                                   refine="none", teacher_grid=teacher_grid))):
        path = tmp_path / f"{name}.tif"
        classify(teacher, scene["rgb"], hsi=scene["hsi"], dem=scene["dem"],
                 output_probabilities=path, config=config)
        with rasterio.open(path) as ds:
            maps[name] = ds.read()
    np.testing.assert_array_equal(maps["local"], maps["dist"])
    valid = ~np.isnan(maps["raw"][0])
    assert valid.any() and np.abs(maps["local"] - maps["raw"])[:, valid].max() > 1e-3
