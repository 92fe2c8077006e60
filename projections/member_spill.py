"""What a bracket needs of every order the rebuild's orders pass has finished, kept in a spill
file: the orders come in id order, so a parent is often finished before its first child names
it, and a parent that is in no group itself is otherwise forgotten. Looked up by key once the
pass is over (before, those parents' events were read from the log and folded again: a fifth
of the orders of a workload with brackets)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]

from ordertrail.projections.brackets import Member
from ordertrail.projections.schema import TS, TableSpec
from ordertrail.projections.spill import TableSpill

# Quantities as text: exactly the Decimals the fold held (a Decimal column would round them
# to the tables' scale before the group's state compares them).
MEMBERS = TableSpec(
    "members",
    pa.schema(
        [
            ("order_key", pa.string()),
            ("status", pa.string()),
            ("quantity", pa.string()),
            ("filled", pa.string()),
            ("oca_type", pa.int64()),
            ("first_fill", TS),
            ("first_fill_nid", pa.int64()),
        ]
    ),
    append_only=True,
)


class MemberSpill:
    def __init__(self, path: Path) -> None:
        self.out = TableSpill(path, MEMBERS)
        self.path: Path | None = None  # the file, once closed

    def add(self, m: Member) -> None:
        ff = m.first_fill
        self.out.add(
            (
                m.order_key,
                m.status.value,
                str(m.quantity),
                str(m.filled),
                m.oca_type,
                None if ff is None else ff[0],
                None if ff is None else ff[1],
            )
        )

    def find_table(self, keys: Collection[str]) -> pa.Table:
        """The rows of these order keys, in the order they were added (an order not finished
        by the pass is absent)."""
        if self.path is None:
            self.path = self.out.close()
        if self.path is None or not keys:
            return MEMBERS.schema.empty_table()
        wanted = pc.field("order_key").isin(pa.array(list(keys), pa.string()))
        return ds.dataset(self.path, format="ipc").to_table(filter=wanted)
