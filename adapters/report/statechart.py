"""The order state machine drawn for people, as two SVG files the docs embed (no script, no
CDN): the main path an order usually takes, then every move IB can make as a from → to grid
with the anomalous ones marked. Both come from ``domain.machine.EDGES``, the one definition.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from ordertrail.domain.machine import EDGES
from ordertrail.domain.status import OrderStatus as S

# Where the main path's states sit: time runs down; the less happy outcomes sit right.
_COL = {"a": 40, "b": 270, "c": 500}
_ROW = [20, 110, 200, 290, 380, 470]
POSITIONS: dict[S, tuple[int, int]] = {
    S.NEW: (_COL["b"], _ROW[0]), S.RISK_DENIED: (_COL["c"], _ROW[0]),
    S.PENDING_SUBMIT: (_COL["b"], _ROW[1]), S.PRE_SUBMITTED: (_COL["a"], _ROW[2]),
    S.INACTIVE: (_COL["c"], _ROW[2]), S.SUBMITTED: (_COL["b"], _ROW[3]),
    S.PENDING_CANCEL: (_COL["c"], _ROW[4]), S.FILLED: (_COL["b"], _ROW[5]),
    S.CANCELLED: (_COL["c"], _ROW[5]),
}  # fmt: skip
# The moves of an ordinary order, with what a person calls them. Each must be a normal edge.
MAIN: tuple[tuple[S, S, str], ...] = (
    (S.NEW, S.PENDING_SUBMIT, "submit"),
    (S.NEW, S.RISK_DENIED, "RiskGate: no"),
    (S.PENDING_SUBMIT, S.SUBMITTED, "IB: Submitted"),
    (S.PENDING_SUBMIT, S.PRE_SUBMITTED, "IB: PreSubmitted"),
    (S.PRE_SUBMITTED, S.SUBMITTED, "IB: Submitted"),
    (S.SUBMITTED, S.FILLED, "filled"),
    (S.SUBMITTED, S.PENDING_CANCEL, "cancel sent"),
    (S.PENDING_CANCEL, S.CANCELLED, "IB: Cancelled"),
    (S.PENDING_CANCEL, S.FILLED, "a fill wins"),
    (S.PENDING_SUBMIT, S.INACTIVE, "rejected (201…)"),
    (S.SUBMITTED, S.INACTIVE, "IB: Inactive"),
)
BOX_W, BOX_H = 130, 36
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


@dataclass(frozen=True, slots=True)
class Move:
    """What the definition says about going from one state to another."""

    triggers: tuple[str, ...]
    anomalies: tuple[str, ...]

    @property
    def normal(self) -> bool:
        """Some trigger makes this move without an anomaly."""
        return not self.anomalies


def moves() -> dict[tuple[S, S], Move]:
    """Every (from, to) pair the definition knows, staying put included."""
    triggers: dict[tuple[S, S], list[str]] = defaultdict(list)
    kinds: dict[tuple[S, S], list[str]] = defaultdict(list)
    for e in EDGES:
        name = e.trigger.value + {None: "", True: " (completes)", False: " (partial)"}[e.completes]
        triggers[(e.source, e.dest)].append(name)
        if e.anomaly is not None and e.anomaly not in kinds[(e.source, e.dest)]:
            kinds[(e.source, e.dest)].append(e.anomaly)
    normal_pairs = {(e.source, e.dest) for e in EDGES if e.anomaly is None}
    return {
        pair: Move(tuple(t), () if pair in normal_pairs else tuple(kinds[pair]))
        for pair, t in triggers.items()
    }


def _centre(s: S) -> tuple[float, float]:
    x, y = POSITIONS[s]
    return x + BOX_W / 2, y + BOX_H / 2


def _border(a: S, b: S) -> tuple[float, float, float, float]:
    """The segment between two boxes' edges (not their centres), so arrowheads show."""
    (x1, y1), (x2, y2) = _centre(a), _centre(b)
    dx, dy = x2 - x1, y2 - y1

    def cut(px: float, py: float, sign: int) -> tuple[float, float]:
        tx = (BOX_W / 2) / abs(dx) if dx else float("inf")
        ty = (BOX_H / 2) / abs(dy) if dy else float("inf")
        t = min(tx, ty) + 0.04
        return px + sign * dx * t, py + sign * dy * t

    sx, sy = cut(x1, y1, 1)
    ex, ey = cut(x2, y2, -1)
    return sx, sy, ex, ey


def main_path_svg() -> str:
    known = moves()
    for a, b, _ in MAIN:
        if (a, b) not in known or not known[(a, b)].normal:
            raise ValueError(f"the main path's {a.value} → {b.value} is not a normal edge")
    parts = [
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 760 520' width='760' "
        f"height='520' role='img' aria-label='The order main path' style=\"{FONT}\">",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#444'/></marker></defs>",
    ]
    labels = []
    for a, b, text in MAIN:
        sx, sy, ex, ey = _border(a, b)
        parts.append(
            f"<line x1='{sx:.1f}' y1='{sy:.1f}' x2='{ex:.1f}' y2='{ey:.1f}' stroke='#444' "
            "stroke-width='1.5' marker-end='url(#arrow)'/>"
        )
        labels.append(_label(sx, sy, ex, ey, text))
    for state, (x, y) in POSITIONS.items():
        done = state in (S.FILLED, S.CANCELLED, S.INACTIVE, S.RISK_DENIED)
        parts.append(
            f"<rect x='{x}' y='{y}' width='{BOX_W}' height='{BOX_H}' rx='8' "
            f"fill='{'#e8f1fb' if not done else '#f3f3f3'}' stroke='#1f2d3d'/>"
            f"<text x='{x + BOX_W / 2}' y='{y + 23}' font-size='14' text-anchor='middle' "
            f"fill='#1f2d3d'>{state.value}</text>"
        )
    parts += labels
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _label(sx: float, sy: float, ex: float, ey: float, text: str) -> str:
    """A vertical arrow's label sits right of it; a horizontal one's above it; a slanted
    one's on its middle, over a white patch."""
    mx, my = (sx + ex) / 2, (sy + ey) / 2
    w = 7 * len(text) + 8
    if abs(ex - sx) < 1:
        x, anchor, left = mx + 6, "start", mx + 3
    else:
        x, anchor, left = mx, "middle", mx - w / 2
    if abs(ey - sy) < 1:
        my -= 12
    return (
        f"<rect x='{left:.1f}' y='{my - 9:.1f}' width='{w}' height='16' fill='white' "
        f"opacity='0.9'/><text x='{x:.1f}' y='{my + 3:.1f}' font-size='12' "
        f"text-anchor='{anchor}' fill='#333'>{escape(text)}</text>"
    )


GRID_ORDER = (S.NEW, S.RISK_DENIED, S.DISCOVERED, S.PENDING_SUBMIT, S.API_PENDING,
              S.PRE_SUBMITTED, S.SUBMITTED, S.PENDING_CANCEL, S.API_CANCELLED, S.CANCELLED,
              S.FILLED, S.INACTIVE)  # fmt: skip
CELL_W, CELL_H, LEFT, TOP = 56, 24, 118, 110


def anomaly_kinds() -> list[str]:
    return sorted({e.anomaly for e in EDGES if e.anomaly is not None})


def surprises_svg() -> str:
    """A from (rows) → to (columns) grid: dark for the main path, blue for the other moves IB
    makes normally, red for the ones that record an anomaly (numbered, named below)."""
    known = moves()
    main = {(a, b) for a, b, _ in MAIN}
    kinds = anomaly_kinds()
    n = len(GRID_ORDER)
    width = LEFT + n * CELL_W + 10
    legend_top = TOP + n * CELL_H + 24
    height = legend_top + 22 * (3 + (len(kinds) + 1) // 2) + 10
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' "
        f"aria-label='Every move between order states' style=\"{FONT}\">",
        f"<text x='4' y='{TOP - 8}' font-size='12' fill='#555'>from ↓ / to →</text>",
    ]
    for j, col in enumerate(GRID_ORDER):
        x = LEFT + j * CELL_W + CELL_W / 2
        parts.append(
            f"<text transform='translate({x + 4:.0f},{TOP - 6}) rotate(-45)' font-size='12' "
            f"fill='#1f2d3d'>{col.value}</text>"
        )
    for i, row in enumerate(GRID_ORDER):
        y = TOP + i * CELL_H
        parts.append(
            f"<text x='{LEFT - 6}' y='{y + 16}' font-size='12' text-anchor='end' "
            f"fill='#1f2d3d'>{row.value}</text>"
        )
        for j, col in enumerate(GRID_ORDER):
            parts.append(_cell(LEFT + j * CELL_W, y, known.get((row, col)),
                               (row, col) in main, row is col, kinds))  # fmt: skip
    parts += _legend(legend_top, kinds)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _cell(x: int, y: int, move: Move | None, main: bool, same: bool, kinds: list[str]) -> str:
    box = f"<rect x='{x}' y='{y}' width='{CELL_W}' height='{CELL_H}' stroke='#d0d7de' "
    if move is None:
        return box + "fill='white'/>"
    title = f"<title>{escape(', '.join(move.triggers))}</title>"
    if move.normal:
        fill, text, colour = (
            ("#1f2d3d", "●", "white") if main else ("#cfe3f7", "stay" if same else "●", "#2171b5")
        )
    else:
        fill, colour = "#fde0dd", "#a50f15"
        text = ",".join(str(kinds.index(k) + 1) for k in move.anomalies)
    return (
        f"<g>{title}{box}fill='{fill}'/><text x='{x + CELL_W / 2}' y='{y + 16}' font-size='11' "
        f"text-anchor='middle' fill='{colour}'>{text}</text></g>"
    )


def _legend(top: int, kinds: list[str]) -> list[str]:
    out = []
    items = (("#1f2d3d", "the main path (drawn above)"),
             ("#cfe3f7", "another move IB makes normally (● to another state, stay: same state)"),
             ("#fde0dd", "IB's surprise: recorded with an anomaly of the numbered kind, and the "
                         "order still moves"))  # fmt: skip
    for i, (fill, text) in enumerate(items):
        y = top + i * 22
        out.append(
            f"<rect x='4' y='{y}' width='18' height='14' fill='{fill}' stroke='#d0d7de'/>"
            f"<text x='30' y='{y + 12}' font-size='12' fill='#333'>{escape(text)}</text>"
        )
    half = (len(kinds) + 1) // 2
    for i, kind in enumerate(kinds):
        x = 4 + (i // half) * 380
        y = top + 3 * 22 + (i % half) * 22
        out.append(f"<text x='{x}' y='{y + 12}' font-size='12' fill='#a50f15'>{i + 1}. "
                   f"{escape(kind)}</text>")  # fmt: skip
    return out
