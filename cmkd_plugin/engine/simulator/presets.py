"""Scene presets: the class list of each preset (the one place it is defined) and its setting.

Class names are lowercase snake_case and are referred to by other modules (model cards,
carbonation coefficients): change them here only. The class index of the truth raster is the
position in :func:`preset_classes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class ClassInfo:
    """One mapped class: name (snake_case), display colour ``#rrggbb`` and a short description."""

    name: str
    colour: str
    description: str


@dataclass(frozen=True)
class UnitSpec:
    """How the simulator draws one class.

    ``spectrum`` is an endmember of :mod:`.spectra`; ``companion`` is the class intimately mixed
    into it within the unit (Hapke albedo space), up to ``companion_max_fraction``; ``layer`` is
    where it sits: ``bedrock`` (ordered along a lithology field correlated with elevation),
    ``cover`` (soil, vegetation, dust, ordered along a wetness/deposition field), ``plot`` (a
    rectangular field trial where crushed rock was spread) or ``water`` (lowest ground).
    """

    name: str
    spectrum: str
    companion: str | None
    companion_max_fraction: float
    layer: str


@dataclass(frozen=True)
class Preset:
    """Everything that differs between the Earth and the Mars scenes."""

    name: str
    description: str
    crs: str                     # projected CRS of RGB, DEM, truth and vectors
    origin_xy_m: tuple[float, float]   # upper-left corner of the scene in ``crs``
    classes: tuple[ClassInfo, ...]
    units: tuple[UnitSpec, ...]  # bedrock and cover units in their field order
    atmosphere: str              # "earth" (water vapour, Rayleigh) or "mars" (CO2, dust haze)
    rgb_sun_azimuth_deg: float
    rgb_sun_elevation_deg: float
    hsi_sun_azimuth_deg: float
    hsi_sun_elevation_deg: float
    diffuse_fraction: float      # share of skylight in the irradiance of a flat surface
    rms_slope: float             # root-mean-square terrain gradient (m/m)
    cover_fraction: float        # share of the scene under cover units
    water_fraction: float        # share of the scene under water
    plot_fraction: float         # share of the scene in field-trial plots

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def unit(self, name: str) -> UnitSpec:
        return next(u for u in self.units if u.name == name)


_EARTH_CLASSES = (
    ClassInfo("olivine", "#6b8e23", "Dunite: forsteritic olivine, the main CO2-reactive mineral"),
    ClassInfo("serpentine", "#2e8b57", "Serpentinite (antigorite): hydrated peridotite"),
    ClassInfo("wollastonite", "#f5f5dc", "Crushed wollastonite spread in field-trial plots"),
    ClassInfo("basalt", "#404040", "Basalt: plagioclase + pyroxene + opaques"),
    ClassInfo("calcite", "#ffffff", "Calcite: travertine / carbonation product of Ca silicates"),
    ClassInfo("magnesite", "#ffd700", "Magnesite (listvenite): carbonation product of olivine"),
    ClassInfo("dolomite", "#e9c2a6", "Dolomite: Ca-Mg carbonate"),
    ClassInfo("chlorite", "#8fbc8f", "Chlorite: greenschist alteration of mafic rock"),
    ClassInfo("soil", "#a0522d", "Calcareous soil: clay, carbonate, lithic fragments, Fe oxide"),
    ClassInfo("dry_vegetation", "#d2b48c", "Dry (senescent) grass"),
    ClassInfo("green_vegetation", "#228b22", "Green vegetation"),
    ClassInfo("water", "#1e90ff", "Open water"),
)

_EARTH_UNITS = (
    # bedrock from low to high lithology field (the ophiolite sequence, carbonates lowest)
    UnitSpec("calcite", "calcite", "soil", 0.15, "bedrock"),
    UnitSpec("dolomite", "dolomite", "calcite", 0.3, "bedrock"),
    UnitSpec("magnesite", "magnesite", "serpentine", 0.15, "bedrock"),
    UnitSpec("serpentine", "antigorite", "magnesite", 0.25, "bedrock"),
    UnitSpec("olivine", "olivine", "serpentine", 0.25, "bedrock"),
    UnitSpec("chlorite", "chlorite", "basalt", 0.15, "bedrock"),
    UnitSpec("basalt", "basalt", "chlorite", 0.25, "bedrock"),
    # covers from dry to wet
    UnitSpec("soil", "soil", "calcite", 0.25, "cover"),
    UnitSpec("dry_vegetation", "dry_grass", "soil", 0.2, "cover"),
    UnitSpec("green_vegetation", "conifer_needles", "dry_vegetation", 0.2, "cover"),
    UnitSpec("wollastonite", "wollastonite", "soil", 0.25, "plot"),
    UnitSpec("water", "seawater", None, 0.0, "water"),
)

_MARS_CLASSES = (
    ClassInfo("basalt", "#3a3a3a", "Basaltic bedrock and sand"),
    ClassInfo("olivine", "#7a9a01", "Olivine-rich unit"),
    ClassInfo("low_ca_pyroxene", "#556b2f", "Low-Ca pyroxene (orthopyroxene)-bearing unit"),
    ClassInfo("high_ca_pyroxene", "#2f4f4f", "High-Ca pyroxene (augite)-bearing unit"),
    ClassInfo("nontronite", "#9acd32", "Fe/Mg smectite (nontronite)"),
    ClassInfo("kaolinite", "#f0e68c", "Al clay (kaolinite)"),
    ClassInfo("gypsum", "#fffafa", "Ca sulfate (gypsum)"),
    ClassInfo("jarosite", "#daa520", "Fe sulfate (jarosite)"),
    ClassInfo("hematite", "#8b0000", "Crystalline hematite"),
    ClassInfo("carbonate", "#87ceeb", "Mg carbonate (magnesite) with olivine"),
    ClassInfo("hydrated_silica", "#dda0dd", "Hydrated silica (opal-CT / chalcedony)"),
    ClassInfo("dust", "#cd853f", "Bright ferric dust"),
)

_MARS_UNITS = (
    # bedrock from low to high: olivine-carbonate, clays, silica, sulfates, hematite, caprock
    UnitSpec("carbonate", "magnesite", "olivine", 0.12, "bedrock"),
    UnitSpec("olivine", "olivine", "dust", 0.25, "bedrock"),
    UnitSpec("nontronite", "nontronite", "dust", 0.25, "bedrock"),
    UnitSpec("kaolinite", "kaolinite", "dust", 0.15, "bedrock"),
    UnitSpec("hydrated_silica", "chalcedony", "dust", 0.15, "bedrock"),
    UnitSpec("jarosite", "jarosite", "dust", 0.25, "bedrock"),
    UnitSpec("gypsum", "gypsum", "dust", 0.15, "bedrock"),
    UnitSpec("hematite", "hematite", "basalt", 0.25, "bedrock"),
    UnitSpec("low_ca_pyroxene", "low_ca_pyroxene", "dust", 0.25, "bedrock"),
    UnitSpec("high_ca_pyroxene", "high_ca_pyroxene", "dust", 0.25, "bedrock"),
    UnitSpec("basalt", "basalt", "dust", 0.2, "bedrock"),
    UnitSpec("dust", "mars_dust", "basalt", 0.2, "cover"),
)

PRESETS: dict[str, Preset] = {
    "earth_carbonation": Preset(
        name="earth_carbonation",
        description="Enhanced-weathering / mineral-carbonation site in an ophiolite "
                    "(Samail ophiolite, Oman), with wollastonite field-trial plots",
        crs="EPSG:32640",  # WGS 84 / UTM zone 40N
        origin_xy_m=(652000.0, 2534000.0),
        classes=_EARTH_CLASSES,
        units=_EARTH_UNITS,
        atmosphere="earth",
        rgb_sun_azimuth_deg=135.0, rgb_sun_elevation_deg=45.0,
        hsi_sun_azimuth_deg=160.0, hsi_sun_elevation_deg=58.0,
        diffuse_fraction=0.15,
        rms_slope=0.28,
        cover_fraction=0.26, water_fraction=0.05, plot_fraction=0.06,
    ),
    "mars_analogue": Preset(
        name="mars_analogue",
        description="Layered aqueous-alteration terrain (Nili Fossae / Jezero-like) on Mars",
        # Mars (2015) sphere, equirectangular, centre longitude 0 (IAU_2015:49910)
        crs="IAU_2015:49910",
        origin_xy_m=(4594000.0, 1091000.0),  # ~77.5 E, 18.4 N (Jezero crater region)
        classes=_MARS_CLASSES,
        units=_MARS_UNITS,
        atmosphere="mars",
        rgb_sun_azimuth_deg=250.0, rgb_sun_elevation_deg=40.0,
        hsi_sun_azimuth_deg=225.0, hsi_sun_elevation_deg=52.0,
        diffuse_fraction=0.30,  # dusty sky: much skylight
        rms_slope=0.25,
        cover_fraction=0.10, water_fraction=0.0, plot_fraction=0.0,
    ),
}


def preset_names() -> list[str]:
    """Names of the available presets."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an :class:`InputError` listing the valid ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"Unknown preset '{name}'. Choose one of: {', '.join(PRESETS)}.") from None


def preset_classes(name: str) -> list[ClassInfo]:
    """The classes of preset ``name`` in class-index order (index = truth raster value)."""
    return list(get_preset(name).classes)
