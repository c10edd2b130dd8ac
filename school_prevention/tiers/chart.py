"""The goal-line chart of an intervention plan, drawn as inline SVG by the server.

The aim line runs from the baseline on the start date to the target on the review date; each data
point is a dot joined to the next. The page shows the same figures in a table, and the SVG carries a
<title> and a <desc> that say in words where the student stands against the aim line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext, ngettext
from markupsafe import Markup, escape

from school_prevention.i18n import format_local

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 16, 40


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def _day(day: date, fmt: str = "%b %-d, %Y") -> str:
    """A date in the page's language (English keeps its strftime format)."""
    return format_local(day, fmt)


def aim_on(day: date, started_on: date, review_on: date, baseline: float, target: float) -> float:
    """Where the aim line stands on a day (straight from baseline at the start to target at the review)."""
    span = (review_on - started_on).days or 1
    return baseline + (target - baseline) * (day - started_on).days / span


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high."""
    raw = (high - low) / count or 1
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if raw <= m * power)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


@dataclass(frozen=True)
class GoalChart:
    """Points in SVG coordinates: the aim line's ends, the data points, the axes' ticks."""

    aim: tuple[tuple[float, float], tuple[float, float]]
    points: list[tuple[float, float, str]]  # x, y, title
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]


def goal_chart(
    started_on: date, review_on: date, baseline: float, target: float, points: list[tuple[date, float]]
) -> GoalChart:
    """The chart's geometry: days run left to right from the start to the review (or the last point)."""
    last = max([review_on] + [d for d, _ in points])
    first = min([started_on] + [d for d, _ in points])
    values = [baseline, target] + [v for _, v in points]
    ticks = _ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    days = (last - first).days or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + plot_w * (day - first).days / days, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - (value - low) / ((high - low) or 1)), 1)

    x_days = sorted({first, started_on, review_on, last})
    return GoalChart(
        aim=((x(started_on), y(baseline)), (x(review_on), y(target))),
        points=[(x(d), y(v), f"{_day(d)}: {_fmt(v)}") for d, v in sorted(points)],
        y_ticks=[(y(t), _fmt(t)) for t in ticks],
        x_ticks=[(x(d), _day(d, "%b %-d")) for d in x_days],
    )


def summary(
    started_on: date, review_on: date, baseline: float, target: float, measure: str, points: list[tuple[date, float]]
) -> str:
    """The chart in words: the aim, the latest value, and whether it is on track."""
    text = gettext(
        "%(measure)s: baseline %(baseline)s on %(start)s, target %(target)s by %(review)s.",
        measure=measure,
        baseline=_fmt(baseline),
        start=_day(started_on),
        target=_fmt(target),
        review=_day(review_on),
    )
    if not points:
        return text + " " + gettext("No progress recorded yet.")
    day, value = max(points)
    aim = aim_on(min(day, review_on), started_on, review_on, baseline, target)
    better = value >= aim if target > baseline else value <= aim
    count = ngettext("%(num)s data point", "%(num)s data points", len(points))
    facts = {"value": _fmt(value), "day": _day(day), "aim": _fmt(round(aim, 2))}
    latest = (
        gettext("latest %(value)s on %(day)s, at or better than the aim line (%(aim)s).", **facts)
        if better
        else gettext("latest %(value)s on %(day)s, behind the aim line (%(aim)s).", **facts)
    )
    return f"{text} {count}; {latest}"


def goal_chart_svg(chart: GoalChart, title: str, desc: str, id_: str) -> Markup:
    """The chart as SVG, titled and described for screen readers; colours come from CSS classes."""
    e = escape
    (ax, ay), (bx, by) = chart.aim
    parts = [
        (
            f'<svg class="chart goal-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{id_}-title {id_}-desc"><title id="{id_}-title">{e(title)}</title>'
            f'<desc id="{id_}-desc">{e(desc)}</desc>'
        )
    ]
    for ty, label in chart.y_ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{ty + 4}" text-anchor="end">{e(label)}</text>'
        )
    for tx, label in chart.x_ticks:
        anchor = "end" if tx > WIDTH - RIGHT - 24 else "middle"  # the last date stays inside the picture
        parts.append(f'<text class="tick" x="{tx}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}">{e(label)}</text>')
    parts.append(
        f'<line class="aim-line" x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}"><title>{e(gettext("Aim line"))}</title></line>'
    )
    if len(chart.points) > 1:
        path = " ".join(f"{px},{py}" for px, py, _ in chart.points)
        parts.append(f'<polyline class="progress-line" points="{path}"/>')
    parts += [
        f'<circle class="progress-point" cx="{px}" cy="{py}" r="5"><title>{e(t)}</title></circle>'
        for px, py, t in chart.points
    ]
    parts.append(
        f'<text class="legend-text" x="{LEFT}" y="{HEIGHT - 6}">'
        f"{e(gettext('Dashed: aim line. Dots: data points.'))}</text>"
    )
    return Markup("".join(parts) + "</svg>")
