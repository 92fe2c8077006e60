"""The state machine's pictures say what the definition says: the main path is made of normal
edges, and the grid marks every (from, to) pair exactly as EDGES has it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ordertrail.adapters.report.statechart import (
    GRID_ORDER,
    MAIN,
    anomaly_kinds,
    main_path_svg,
    moves,
    surprises_svg,
)
from ordertrail.domain.machine import EDGES
from ordertrail.domain.status import OrderStatus

NS = "{http://www.w3.org/2000/svg}"


def test_every_state_is_in_the_grid_and_the_main_path_is_normal() -> None:
    assert set(GRID_ORDER) == set(OrderStatus)
    known = moves()
    for a, b, _ in MAIN:
        assert any(e.source is a and e.dest is b and e.anomaly is None for e in EDGES), (a, b)
        assert known[(a, b)].normal


def test_grid_cells_mark_each_pair_as_the_definition_does() -> None:
    root = ET.fromstring(surprises_svg())
    cells = {}
    for g in root.iter(f"{NS}g"):
        rect, text = g.find(f"{NS}rect"), g.find(f"{NS}text")
        assert rect is not None
        assert text is not None
        x, y = int(rect.get("x", "0")), int(rect.get("y", "0"))
        title = g.find(f"{NS}title")
        assert title is not None
        cells[(x, y)] = (rect.get("fill"), text.text or "", title.text or "")
    kinds = anomaly_kinds()
    pairs = moves()
    assert len(cells) == len(pairs)
    for (a, b), move in pairs.items():
        x = 118 + GRID_ORDER.index(b) * 56
        y = 110 + GRID_ORDER.index(a) * 24
        fill, text, title = cells[(x, y)]
        normal = any(e.source is a and e.dest is b and e.anomaly is None for e in EDGES)
        if normal:
            assert fill in ("#1f2d3d", "#cfe3f7"), (a, b)
        else:
            assert fill == "#fde0dd", (a, b)
            wanted = {e.anomaly for e in EDGES if e.source is a and e.dest is b}
            assert {kinds[int(n) - 1] for n in text.split(",")} == wanted
        assert set(title.split(", ")) == set(move.triggers)


def test_main_path_draws_one_arrow_per_move_between_known_boxes() -> None:
    svg = main_path_svg()
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{NS}line"))) == len(MAIN)
    boxes = {t.text for t in root.iter(f"{NS}text")}
    assert {a.value for a, _, _ in MAIN} | {b.value for _, b, _ in MAIN} <= boxes
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", svg)
