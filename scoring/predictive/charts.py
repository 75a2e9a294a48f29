"""Geometry of the model page's charts, drawn as inline SVG by the template (as the dashboard's funnel is):
no chart library, nothing to load, and it prints. Coordinates are in the SVG's own units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 360, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 24, 34


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    marks: list[dict[str, Any]] = field(default_factory=list)
    ticks_x: list[dict[str, Any]] = field(default_factory=list)
    ticks_y: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    path: str = ""
    empty: bool = True
    axis: dict[str, float] = field(default_factory=dict)


def _axis() -> dict[str, float]:
    return {"x0": LEFT, "x1": WIDTH - RIGHT, "y0": HEIGHT - BOTTOM, "y1": TOP}


def _nice_top(value: float) -> float:
    """The axis end above `value`: 0.1, 0.2, 0.25, 0.5 or 1 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def calibration_chart(evaluation: dict[str, Any]) -> Chart:
    """Predicted (x) against observed (y) customer rate per group of leads; the diagonal is perfect."""
    chart = Chart(axis=_axis())
    bins = [b for b in evaluation.get("calibration") or [] if isinstance(b, dict)]
    points: list[tuple[float, float, Any]] = []
    for b in bins:
        predicted, observed = _number(b.get("predicted")), _number(b.get("observed"))
        if predicted is not None and observed is not None:
            points.append((predicted, observed, b.get("count")))
    if not points:
        return chart
    chart.empty = False
    top = _nice_top(max(max(p, o) for p, o, _ in points))
    x0, x1, y0, y1 = chart.axis["x0"], chart.axis["x1"], chart.axis["y0"], chart.axis["y1"]

    def x(value: float) -> float:
        return round(x0 + (x1 - x0) * value / top, 1)

    def y(value: float) -> float:
        return round(y0 - (y0 - y1) * value / top, 1)

    for i in range(6):
        value = top * i / 5
        chart.ticks_x.append({"x": x(value), "label": f"{value:.0%}" if top >= 0.1 else f"{value:.1%}"})
        chart.ticks_y.append({"y": y(value), "label": f"{value:.0%}" if top >= 0.1 else f"{value:.1%}"})
    chart.lines.append({"x1": x(0), "y1": y(0), "x2": x(top), "y2": y(top)})
    chart.path = " ".join(f"{'M' if i == 0 else 'L'}{x(p)},{y(o)}" for i, (p, o, _) in enumerate(points))
    for p, o, count in points:
        chart.marks.append(
            {"x": x(p), "y": y(o), "title": f"predicted {p:.1%}, observed {o:.1%} ({count} leads)"}
        )
    return chart


def lift_chart(evaluation: dict[str, Any]) -> Chart:
    """Customer rate of each tenth of leads (ranked by probability) relative to the average: 1 = no better."""
    chart = Chart(axis=_axis())
    deciles = [d for d in evaluation.get("lift") or [] if isinstance(d, dict)]
    values: list[tuple[float, dict[str, Any]]] = []
    for d in deciles:
        lift = _number(d.get("lift"))
        if lift is not None:
            values.append((lift, d))
    if not values:
        return chart
    chart.empty = False
    # Whole multiples of the average rate read best: 0x, 1x, 2x...
    top = float(max(2, math.ceil(max(v for v, _ in values))))
    x0, x1, y0, y1 = chart.axis["x0"], chart.axis["x1"], chart.axis["y0"], chart.axis["y1"]
    slot = (x1 - x0) / len(values)

    def y(value: float) -> float:
        return round(y0 - (y0 - y1) * value / top, 1)

    step = 1 if top <= 6 else math.ceil(top / 6)
    for times in range(0, int(top) + 1, step):
        chart.ticks_y.append({"y": y(times), "label": f"{times}x"})
    for index, (value, decile) in enumerate(values):
        left = x0 + index * slot + slot * 0.15
        chart.marks.append(
            {
                "x": round(left, 1),
                "y": y(value),
                "width": round(slot * 0.7, 1),
                "height": round(y0 - y(value), 1),
                "strong": value >= 1,
                "title": (
                    f"tenth {decile.get('decile')}: {value:g} times the average rate, "
                    f"{_number(decile.get('captured')) or 0:.0%} of customers found so far"
                ),
            }
        )
        chart.ticks_x.append(
            {"x": round(left + slot * 0.35, 1), "label": str(decile.get("decile", index + 1))}
        )
    chart.lines.append({"x1": x0, "y1": y(1.0), "x2": x1, "y2": y(1.0)})
    return chart
