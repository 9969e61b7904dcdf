"""Determinism, formats, reprojection, input validation and atomicity of the simulator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.errors import CancelledError, InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.geo.write import read_wavelengths
from cmkd_plugin.engine.simulator import (OutputPaths, SimulationConfig, preset_classes,
                                          preset_names, simulate_survey)

SMALL = ["--size-px", "128", "--rgb-gsd-m", "0.5", "--labels-per-class", "5"]
RASTERS = ("rgb.tif", "hsi.tif", "dem.tif", "truth.tif", "truth.tif.aux.xml", "truth.qml")


def _sim(out: Path, *extra: str, preset: str = "earth_carbonation", seed: int = 7) -> int:
    return cli.main(["simulate", "--preset", preset, "--seed", str(seed), *SMALL,
                     "--output-dir", str(out), *extra])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_byte_identical_rasters(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _sim(a) == 0 and _sim(b) == 0 and _sim(c, seed=8) == 0
    for name in RASTERS:
        assert _digest(a / name) == _digest(b / name), name
    assert _digest(a / "rgb.tif") != _digest(c / "rgb.tif")
    assert _digest(a / "hsi.tif") != _digest(c / "hsi.tif")


def test_every_output_written_and_returned(tmp_path, capsys):
    assert _sim(tmp_path / "o") == 0
    import json

    result = json.loads(capsys.readouterr().out)
    keys = {"OUTPUT_RGB", "OUTPUT_HSI", "OUTPUT_DEM", "OUTPUT_TRUTH", "OUTPUT_LABELS",
            "OUTPUT_SITES", "OUTPUT_FOOTPRINT", "OUTPUT_PREVIEW"}
    assert keys <= set(result)
    for key in keys:
        assert Path(result[key]).is_file()
    assert result["CLASSES"] == [c.name for c in preset_classes("earth_carbonation")]
    import geopandas as gpd

    sites = gpd.read_file(result["OUTPUT_SITES"])
    assert {"site_id", "name"} <= set(sites.columns) and len(sites) >= 3
    assert sites.geom_type.isin(["Polygon"]).all()
    from PIL import Image

    with Image.open(result["OUTPUT_PREVIEW"]) as im:
        assert im.size[0] > 800 and im.mode in ("RGB", "RGBA")
    assert not [p for p in (tmp_path / "o").iterdir() if "cmkd-partial" in p.name]


def test_envi_output_has_wavelength_header(tmp_path):
    out = tmp_path / "envi"
    assert _sim(out, "--hsi-format", "envi", "--hsi-bands", "100") == 0
    header = (out / "hsi.hdr").read_text()
    assert "wavelength = {400.0," in header and "fwhm = {" in header
    assert "wavelength units = Nanometers" in header and "bbl = {" in header
    assert "cmkd-partial" not in header
    wl, fwhm = read_wavelengths(out / "hsi.img")
    assert len(wl) == 100 and wl[0] == 400.0 and wl[-1] == 2500.0
    assert np.allclose(fwhm, fwhm[0]) and fwhm[0] > 0
    with rasterio.open(out / "hsi.img") as src:
        data = src.read(50)
    assert np.isnan(data).any() and np.isfinite(data).any()


def test_hsi_in_its_own_crs(tmp_path):
    out = tmp_path / "utm41"
    assert _sim(out, "--hsi-crs", "EPSG:32641") == 0
    with rasterio.open(out / "hsi.tif") as src:
        assert src.crs.to_epsg() == 32641
        assert src.res == (2.0, 2.0)
        valid = np.isfinite(src.read(30))
    with rasterio.open(out / "rgb.tif") as src:
        assert src.crs.to_epsg() == 32640
    import geopandas as gpd

    foot = gpd.read_file(out / "hsi_footprint.gpkg")
    assert foot.crs.to_epsg() == 32641
    assert valid.mean() > 0.2


@pytest.mark.parametrize("args, message", [
    (["--preset", "venus"], "earth_carbonation, mars_analogue"),
    (["--size-px", "0"], "positive"),
    (["--size-px", "-5"], "positive"),
    (["--hsi-gsd-m", "40"], "too coarse"),
    (["--dem-gsd-m", "100"], "too coarse"),
    (["--rgb-gsd-m", "0"], "positive"),
    (["--hsi-crs", "EPSG:4326"], "projected"),
    (["--hsi-crs", "not-a-crs"], "not a CRS"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "bad"
    base = ["simulate", "--preset", "earth_carbonation", "--size-px", "128", "--output-dir",
            str(out)]
    # later options override earlier ones in argparse
    code = cli.main(base + args)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = _sim(tmp_path / "out", "--preview", str(blocker / "sub" / "preview.png"))
    assert code == 2
    assert "Cannot create the output folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    folder = tmp_path / "folder.tif"
    folder.mkdir()
    code = _sim(tmp_path / "out2", "--rgb", str(folder))
    assert code == 2 and "is a folder" in capsys.readouterr().err


def test_cancel_while_writing_leaves_nothing(tmp_path):
    seen: list[float] = []
    fb = Feedback(on_progress=seen.append, is_cancelled=lambda: bool(seen) and seen[-1] > 85.0)
    config = SimulationConfig("mars_analogue", seed=1, size_px=128, rgb_gsd_m=0.5)
    out = tmp_path / "cancel"
    with pytest.raises(CancelledError):
        simulate_survey(config, OutputPaths.in_folder(out), fb)
    assert max(seen) > 85.0  # the writing phase had started
    assert list(out.iterdir()) == []


def test_outputs_must_differ_and_have_known_suffixes(tmp_path):
    config = SimulationConfig("earth_carbonation", size_px=128)
    with pytest.raises(InputError, match="same path"):
        simulate_survey(config, OutputPaths.in_folder(tmp_path, dem=tmp_path / "rgb.tif"))
    with pytest.raises(InputError, match="must end in"):
        simulate_survey(config, OutputPaths.in_folder(tmp_path, hsi=tmp_path / "hsi.img"))
    assert list(tmp_path.iterdir()) == []


def test_preset_classes():
    assert preset_names() == ["earth_carbonation", "mars_analogue"]
    for name in preset_names():
        classes = preset_classes(name)
        assert len(classes) == 12
        assert len({c.name for c in classes}) == 12
        for c in classes:
            assert c.name == c.name.lower() and " " not in c.name
            assert c.colour.startswith("#") and len(c.colour) == 7 and c.description
    earth = {c.name for c in preset_classes("earth_carbonation")}
    assert {"olivine", "serpentine", "wollastonite", "basalt", "calcite", "magnesite", "soil",
            "dry_vegetation", "green_vegetation", "water"} <= earth
    mars = [c.name for c in preset_classes("mars_analogue")]
    assert set(mars) == {"basalt", "olivine", "low_ca_pyroxene", "high_ca_pyroxene", "nontronite",
                         "kaolinite", "gypsum", "jarosite", "hematite", "carbonate",
                         "hydrated_silica", "dust"}
    with pytest.raises(InputError, match="mars_analogue"):
        preset_classes("moon")


def test_hsi_crs_on_another_body_is_refused(tmp_path):
    config = SimulationConfig("mars_analogue", size_px=128, hsi_crs="EPSG:32640")
    with pytest.raises(InputError, match="another planetary body"):
        simulate_survey(config, OutputPaths.in_folder(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_hsi_finer_than_rgb_is_filled(tmp_path):
    # Every HSI pixel inside the strip gets a value even when it holds no RGB pixel centre.
    out = tmp_path / "fine"
    assert cli.main(["simulate", "--preset", "earth_carbonation", "--size-px", "64",
                     "--rgb-gsd-m", "1.0", "--dem-gsd-m", "1.0", "--hsi-gsd-m", "0.7",
                     "--hsi-bands", "20", "--labels-per-class", "2",
                     "--output-dir", str(out)]) == 0
    import geopandas as gpd
    from cmkd_plugin.engine.simulator.vectors import contains_xy

    foot = gpd.read_file(out / "hsi_footprint.gpkg").geometry.iloc[0]
    with rasterio.open(out / "hsi.tif") as src:
        data = src.read(5)
        rows, cols = np.mgrid[0: src.height, 0: src.width]
        x, y = src.transform * (cols + 0.5, rows + 0.5)
    inner = contains_xy(foot.buffer(-1.0), x, y)
    assert np.isfinite(data[inner]).all()
