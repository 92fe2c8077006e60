"""Rows grouped by an integer key, in numpy: the columnar route's executions, corrections and
commission reports grouped by (order, execId base). Rows stay in log order; within a group,
"before" means earlier in the log. (Polars' window functions over the string key cost about
as much as the rest of the route together.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]


def fill_keys(ords: np.ndarray, bases: pa.Array) -> np.ndarray:
    """One int64 key per (order, execId base) pair."""
    codes = pc.dictionary_encode(bases).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    keys: np.ndarray = codes * (int(ords.max(initial=0)) + 1) + ords
    return keys


@dataclass(frozen=True)
class Groups:
    """Rows (in log order) grouped by ``keys``: ``order`` sorts them by group, stably."""

    keys: np.ndarray
    order: np.ndarray
    starts: np.ndarray  # for each sorted position, the sorted position its group starts at

    @classmethod
    def of(cls, keys: np.ndarray) -> Groups:
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        n = len(keys)
        new = np.ones(n, bool)
        new[1:] = sorted_keys[1:] != sorted_keys[:-1]
        starts = np.maximum.accumulate(np.where(new, np.arange(n), 0)) if n else new.astype(int)
        return cls(keys, order, starts)

    def previous(self) -> np.ndarray:
        """Each row's previous row of its group (-1: it is the first)."""
        out = np.full(len(self.keys), -1, np.int64)
        if len(self.keys) > 1:
            same = self.starts[1:] != np.arange(1, len(self.keys))
            out[self.order[1:]] = np.where(same, self.order[:-1], -1)
        return out

    def first(self) -> np.ndarray:
        """Each row's group's first row."""
        out = np.empty(len(self.keys), np.int64)
        out[self.order] = self.order[self.starts]
        return out

    def is_last(self) -> np.ndarray:
        """Whether a row is its group's last."""
        n = len(self.keys)
        last_sorted = np.ones(n, bool)
        if n > 1:
            last_sorted[:-1] = self.starts[1:] == np.arange(1, n)
        out = np.empty(n, bool)
        out[self.order] = last_sorted
        return out

    def last_marked(self, marked: np.ndarray) -> np.ndarray:
        """For each row, the last row of its group at or before it that is ``marked`` (-1:
        none)."""
        n = len(self.keys)
        positions = np.where(marked[self.order], np.arange(n), -1)
        running = np.maximum.accumulate(positions) if n else positions
        found = np.where(running >= self.starts, self.order[np.maximum(running, 0)], -1)
        out = np.empty(n, np.int64)
        out[self.order] = found
        return out
