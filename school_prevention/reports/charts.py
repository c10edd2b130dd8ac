"""Chart geometry for inline SVG drawn by the server: no script, no chart library.

The geometry functions return plain numbers; the *_svg functions turn them into SVG markup, with
every text escaped. Colours come from CSS classes (the Content-Security-Policy forbids inline
styles). Every chart is paired on the page with a table or a legend that says the same in words
and numbers, and charts inside table rows are hidden from screen readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from typing_extensions import TypeIs  # typing.TypeIs is Python 3.13

from school_prevention.i18n import number, percent_text


def _known(value: object) -> TypeIs[float]:
    """Whether value is a figure (a number), not withheld or missing."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def nice_max(value: float) -> float:
    """A round axis maximum at or above value: 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def axis(value: float, ticks: int = 4) -> tuple[float, float]:
    """(top, step) of an axis for counts: whole steps of 1, 2 or 5 times a power of ten, about `ticks` of them."""
    raw = max(value, 1) / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next((m * power for m in (1, 2, 5, 10) if raw <= m * power), 10 * power)
    step = max(step, 1)
    return step * math.ceil(max(value, 1) / step), step


@dataclass
class Segment:
    x: float
    width: float
    css: str
    label: str
    value: int


def stacked(parts: list[tuple[str, int, str]], width: float = 100.0) -> list[Segment]:
    """One bar split into parts (label, value, css class), scaled to width; empty parts are left out.

    Nothing is drawn when a part is withheld: the bar's proportions would be drawn from figures
    the page does not show (the other parts' share of a total that includes the withheld one).
    """
    if not all(_known(v) for _, v, _ in parts):
        return []
    total = sum(v for _, v, _ in parts)
    out: list[Segment] = []
    x = 0.0
    if not total:
        return out
    for label, value, css in parts:
        if not _known(value) or value <= 0:
            continue
        w = width * value / total
        out.append(Segment(round(x, 3), round(w, 3), css, label, value))
        x += w
    return out


def fraction(value, maximum) -> float:
    """value / maximum clipped to 0..1 (0 for withheld or unknown values)."""
    if not _known(value) or not _known(maximum) or maximum <= 0:
        return 0.0
    return max(0.0, min(1.0, value / maximum))


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class ColumnChart:
    """Grouped columns over categories (weeks), with a y axis."""

    width: int
    height: int
    left: int
    bottom: int
    top: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    gaps: list[tuple[float, str]] = field(default_factory=list)  # withheld or missing values

    @property
    def plot_right(self) -> int:
        return self.width - 8


def columns(
    categories: list[str],
    series: list[tuple[str, str, list]],
    *,
    width: int = 720,
    height: int = 220,
    as_share: bool = False,
) -> ColumnChart:
    """Grouped columns: one group per category, one column per series (name, css class, values).

    Values that are withheld (not numbers) leave a gap marked 'S' under the axis.
    """
    chart = ColumnChart(width=width, height=height, left=44, bottom=height - 28, top=10)
    known = [v for _, _, values in series for v in values if _known(v)]
    top, step = (1.0, 0.25) if as_share else axis(max(known, default=0))
    plot_h = chart.bottom - chart.top
    for i in range(round(top / step) + 1):
        tick = step * i
        label = percent_text(tick) if as_share else number(tick)
        chart.ticks.append((round(chart.bottom - plot_h * tick / top, 2), label))
    n = max(len(categories), 1)
    slot = (chart.plot_right - chart.left) / n
    bar_w = max(2.0, slot * 0.8 / max(len(series), 1))
    every = max(1, math.ceil(n / max(1, (chart.plot_right - chart.left) // 64)))
    for i, category in enumerate(categories):
        x0 = chart.left + slot * i + slot * 0.1
        if i % every == 0:
            chart.labels.append((round(chart.left + slot * (i + 0.5), 2), category))
        for j, (name, css, values) in enumerate(series):
            value = values[i] if i < len(values) else None
            x = round(x0 + bar_w * j, 2)
            if not _known(value):
                chart.gaps.append((round(x + bar_w / 2, 2), "S"))
                continue
            h = plot_h * min(value / top, 1.0) if top else 0
            shown = percent_text(value) if as_share else number(value, 0 if float(value).is_integer() else 1)
            chart.bars.append(
                Bar(x, round(chart.bottom - h, 2), round(bar_w, 2), round(h, 2), css, f"{name}, {category}: {shown}")
            )
    return chart


@dataclass
class HBar:
    label: str
    value: float
    width: float
    y: float
    css: str


@dataclass
class HBarChart:
    """Horizontal bars against a reference line (caseloads against 250)."""

    width: int
    height: int
    left: int
    bars: list[HBar]
    reference_x: float | None
    reference_label: str
    top_value: float


def hbars(
    items: list[tuple[str, float]],
    *,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 640,
    row: int = 26,
    left: int = 190,
) -> HBarChart:
    """One bar per (label, value); bars past the reference get the 'over' class."""
    known = [v for _, v in items if _known(v)]
    top = nice_max(max(known + ([reference * 1.25] if reference else []), default=0))
    span = width - left - 50
    bars = []
    for i, (label, value) in enumerate(items):
        w = span * fraction(value, top)
        over = reference is not None and _known(value) and value > reference
        bars.append(HBar(label, value, round(w, 2), i * row + 6, "bar-over" if over else "bar-ok"))
    ref_x = left + span * reference / top if reference else None
    return HBarChart(
        width=width,
        height=len(items) * row + 24,
        left=left,
        bars=bars,
        reference_x=round(ref_x, 2) if ref_x else None,
        reference_label=reference_label,
        top_value=top,
    )


# --- SVG markup (built here rather than in template macros: pages draw dozens of these) -----------


def _e(value) -> str:
    return str(escape(value))


def swatch(css: str) -> Markup:
    """A small coloured square for a legend (hidden from screen readers: the label says it)."""
    return Markup(
        f'<svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect class="{_e(css)}" width="10" height="10"/></svg>'
    )


def legend(items) -> Markup:
    """A legend: (label, css class) pairs."""
    return Markup(
        '<ul class="legend">' + "".join(f"<li>{swatch(css)} {_e(label)}</li>" for label, css in items) + "</ul>"
    )


def stacked_svg(parts: list[tuple[str, int, str]], title: str, id_: str) -> Markup:
    """One bar split into parts, as an image titled for screen readers (a legend gives the figures)."""
    rects = "".join(
        f'<rect class="{_e(s.css)}" x="{s.x}" y="0" width="{s.width}" height="10">'
        f"<title>{_e(s.label)}: {s.value}</title></rect>"
        for s in stacked(parts)
    )
    return Markup(
        f'<svg class="chart chart-stacked" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-labelledby="{id_}-title"><title id="{id_}-title">{_e(title)}</title>'
        f'<rect class="track" x="0" y="0" width="100" height="10"/>{rects}</svg>'
    )


def mini_svg(parts: list[tuple[str, int, str]]) -> Markup:
    """A small stacked bar inside a table row, whose numbers say the same (hidden from screen readers)."""
    rects = "".join(
        f'<rect class="{_e(s.css)}" x="{s.x}" y="0" width="{s.width}" height="10"/>' for s in stacked(parts)
    )
    return Markup(
        '<svg class="chart chart-mini" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
        f'focusable="false"><rect class="track" x="0" y="0" width="100" height="10"/>{rects}</svg>'
    )


def fill_svg(value, maximum, css: str = "seg-fill") -> Markup:
    """How full something is, as a small bar (hidden from screen readers: the figure is beside it)."""
    width = round(100 * fraction(value, maximum), 2)
    return Markup(
        '<svg class="chart chart-mini" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
        f'focusable="false"><rect class="track" x="0" y="0" width="100" height="10"/>'
        f'<rect class="{_e(css)}" x="0" y="0" width="{width}" height="10"/></svg>'
    )


def columns_svg(chart: ColumnChart, title: str, summary: str, id_: str) -> Markup:
    """Grouped columns with their axis, titled and described for screen readers."""
    parts = [
        f'<svg class="chart chart-columns" viewBox="0 0 {chart.width} {chart.height}" role="img" '
        f'aria-labelledby="{id_}-title {id_}-desc"><title id="{id_}-title">{_e(title)}</title>'
        f'<desc id="{id_}-desc">{_e(summary)}</desc>'
    ]
    for y, label in chart.ticks:
        parts.append(
            f'<line class="grid" x1="{chart.left}" x2="{chart.plot_right}" y1="{y}" y2="{y}"/>'
            f'<text class="tick" x="{chart.left - 6}" y="{y + 4}" text-anchor="end">{_e(label)}</text>'
        )
    parts += [
        f'<rect class="{_e(b.css)}" x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}">'
        f"<title>{_e(b.title)}</title></rect>"
        for b in chart.bars
    ]
    parts += [
        f'<text class="gap" x="{x}" y="{chart.bottom - 3}" text-anchor="middle">{_e(mark)}</text>'
        for x, mark in chart.gaps
    ]
    parts += [
        f'<text class="tick" x="{x}" y="{chart.bottom + 17}" text-anchor="middle">{_e(label)}</text>'
        for x, label in chart.labels
    ]
    return Markup("".join(parts) + "</svg>")


def _number(value) -> str:
    """A bar's figure in the page's language ("1,234.5" / "1234,5"); anything else (S) as it is."""
    if isinstance(value, float):
        return number(value, 0 if value.is_integer() else 1)
    return number(value) if isinstance(value, int) else str(value)


def hbars_svg(chart: HBarChart, title: str, summary: str, id_: str, fmt=_number) -> Markup:
    """Horizontal bars against a reference line, titled and described for screen readers."""
    parts = [
        f'<svg class="chart chart-hbars" viewBox="0 0 {chart.width} {chart.height}" role="img" '
        f'aria-labelledby="{id_}-title {id_}-desc"><title id="{id_}-title">{_e(title)}</title>'
        f'<desc id="{id_}-desc">{_e(summary)}</desc>'
    ]
    for b in chart.bars:
        label = b.label if len(b.label) <= 28 else b.label[:27] + "…"
        parts.append(
            f'<text class="tick" x="{chart.left - 8}" y="{b.y + 13}" text-anchor="end">{_e(label)}</text>'
            f'<rect class="{b.css}" x="{chart.left}" y="{b.y}" width="{b.width}" height="18"/>'
            f'<text class="value" x="{chart.left + b.width + 6}" y="{b.y + 13}">{_e(fmt(b.value))}</text>'
        )
    if chart.reference_x:
        parts.append(
            f'<line class="reference" x1="{chart.reference_x}" x2="{chart.reference_x}" y1="0" '
            f'y2="{chart.height - 16}"/><text class="tick" x="{chart.reference_x}" y="{chart.height - 3}" '
            f'text-anchor="middle">{_e(chart.reference_label)}</text>'
        )
    return Markup("".join(parts) + "</svg>")
