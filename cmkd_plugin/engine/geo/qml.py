"""QGIS style documents (``.qml`` sidecars) for every engine output: the one place for styles.

- :func:`class_qml`: paletted classes with their names in the legend.
- :func:`pseudocolour_qml`: a single band interpolated between labelled colour stops.
- :func:`graduated_fill_qml`: polygons coloured by a numeric field in equal intervals, labelled.

The documents are what QGIS 3.22 writes for these renderers (no timestamps: the same inputs give
byte-identical files); QGIS loads them beside the layer, and ``qgis_process`` users get them too.
"""

from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def qgis_rgba(colour: str) -> str:
    """``#rrggbb`` as QGIS's ``r,g,b,255``."""
    c = colour.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},255"


def _gradient_ramp(first: str, last: str, indent: str) -> str:
    """A two-colour gradient ``<colorramp>`` (what the style dialog shows as the ramp)."""
    return f"""{indent}<colorramp type="gradient" name="[source]">
{indent}  <Option type="Map">
{indent}    <Option name="color1" value="{qgis_rgba(first)}" type="QString"/>
{indent}    <Option name="color2" value="{qgis_rgba(last)}" type="QString"/>
{indent}    <Option name="discrete" value="0" type="QString"/>
{indent}    <Option name="rampType" value="gradient" type="QString"/>
{indent}  </Option>
{indent}</colorramp>"""


def _raster_qml(renderer: str, body: str, provider: str = "") -> str:
    """A QGIS raster style document: ``renderer`` is the ``<rasterrenderer ...>`` opening tag's
    attributes, ``body`` its renderer-specific children, ``provider`` an optional
    ``<provider>`` block; the rest (transparency, min/max origin, colour adjustments,
    resampling) is what QGIS 3.22 writes by default."""
    return f"""{_DOCTYPE}
<qgis version="3.22.0" styleCategories="Symbology">
  <pipe>
{provider}    <rasterrenderer {renderer}>
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
{body}
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def pseudocolour_qml(stops: Sequence[tuple[float, str, str]], band: int = 1) -> str:
    """A QGIS single-band pseudocolour style interpolated between ``(value, colour, label)``
    stops (ascending values); the labels are what the legend shows, units included."""
    items = "\n".join(
        f'          <item value="{v:.6g}" color="{c}" alpha="255" label={quoteattr(label)}/>'
        for v, c, label in stops)
    lo, hi = stops[0][0], stops[-1][0]
    return _raster_qml(
        f'type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" '
        f'classificationMin="{lo:.6g}" classificationMax="{hi:.6g}"',
        f"""      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="{lo:.6g}" maximumValue="{hi:.6g}" labelPrecision="2">
{_gradient_ramp(stops[0][1], stops[-1][1], "          ")}
{items}
        </colorrampshader>
      </rastershader>""")


def class_qml(class_names: Sequence[str], colours: Sequence[str]) -> str:
    """A QGIS paletted renderer style for a class raster (values 0..K-1 with labels)."""
    entries = "\n".join(
        f'          <paletteEntry value="{i}" color="{escape(c.lower())}" alpha="255" '
        f'label="{escape(n)}"/>' for i, (n, c) in enumerate(zip(class_names, colours))
    )
    return _raster_qml(
        'type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor=""',
        f"""      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>""",
        provider="""    <provider>
      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>
    </provider>
""")


def _fill_symbol(name: str, colour: str) -> str:
    return f"""      <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">
        <layer class="SimpleFill" pass="0" locked="0" enabled="1">
          <Option type="Map">
            <Option name="color" value="{qgis_rgba(colour)}" type="QString"/>
            <Option name="outline_color" value="35,35,35,255" type="QString"/>
            <Option name="outline_style" value="solid" type="QString"/>
            <Option name="outline_width" value="0.26" type="QString"/>
            <Option name="outline_width_unit" value="MM" type="QString"/>
            <Option name="style" value="solid" type="QString"/>
          </Option>
        </layer>
      </symbol>"""


def graduated_fill_qml(values: Sequence[float | None], value_field: str, label_field: str,
                       unit: str, colours: Sequence[str]) -> str:
    """QGIS vector style: polygons filled by ``value_field`` in equal intervals from 0 to the
    largest finite value (one class per colour, legend entries in ``unit``), each labelled with
    ``label_field`` and its value."""
    top = max([v for v in values if v is not None and math.isfinite(v)] or [0.0])
    top = top if top > 0 else 1.0
    n = len(colours)
    bounds = [top * i / n for i in range(n + 1)]
    ranges, symbols = [], []
    for i, col in enumerate(colours):
        lo, hi = bounds[i], bounds[i + 1]
        label = f"{lo:.4g} - {hi:.4g} {unit}"
        ranges.append(f'      <range lower="{lo:.10g}" upper="{hi:.10g}" symbol="{i}" '
                      f'label={quoteattr(label)} render="true"/>')
        symbols.append(_fill_symbol(str(i), col))
    expression = (f'"{label_field}" || \'\\n\' || format_number("{value_field}", 2) '
                  f"|| ' {unit}'")
    return f"""{_DOCTYPE}
<qgis version="3.22.0" styleCategories="Symbology|Labeling" labelsEnabled="1">
  <renderer-v2 type="graduatedSymbol" attr="{escape(value_field)}" graduatedMethod="GraduatedColor" symbollevels="0" enableorderby="0" forceraster="0">
    <ranges>
{chr(10).join(ranges)}
    </ranges>
    <symbols>
{chr(10).join(symbols)}
    </symbols>
    <source-symbol>
{_fill_symbol("0", colours[0])}
    </source-symbol>
{_gradient_ramp(colours[0], colours[-1], "    ")}
    <classificationMethod id="EqualInterval">
      <symmetricMode enabled="0" symmetrypoint="0" astride="0"/>
      <labelFormat format={quoteattr(f"%1 - %2 {unit}")} labelprecision="1" trimtrailingzeroes="1"/>
      <extraInformation/>
    </classificationMethod>
    <rotation/>
    <sizescale/>
  </renderer-v2>
  <labeling type="simple">
    <settings calloutType="simple">
      <text-style fieldName={quoteattr(expression)} isExpression="1" fontFamily="Sans Serif" fontSize="9" fontSizeUnit="Point" textColor="0,0,0,255" textOpacity="1" multilineHeight="1"/>
      <text-format wrapChar="" multilineAlign="3" autoWrapLength="0"/>
      <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" bufferOpacity="1"/>
      <placement placement="1" dist="0" priority="5" fitInPolygonOnly="0"/>
      <rendering obstacle="1" scaleVisibility="0" drawLabels="1" displayAll="0"/>
    </settings>
  </labeling>
  <blendMode>0</blendMode>
  <featureBlendMode>0</featureBlendMode>
  <layerOpacity>1</layerOpacity>
</qgis>
"""
