"""A small XML reader for Flex files that keeps every element's line number.

``xml.etree`` drops line numbers, and an error that says "a Trade row lacks conid" without
saying where is useless in a 40 MB statement; expat reports the line of each start tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from ordertrail.domain.errors import OrdertrailError


class FlexFileError(OrdertrailError):
    """A Flex file that cannot be imported. Nothing from it was recorded."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{self.path}: {shown}{more}; nothing from this file was recorded")


@dataclass(slots=True)
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)


def read_tree(path: Path) -> Node:
    """The whole document as nodes (Flex files are attribute-only: text content is ignored)."""
    parser = expat.ParserCreate()
    root: list[Node] = []
    stack: list[Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def no_entities(*_args: object) -> None:
        # IB never declares entities; refusing them closes the entity-expansion attacks.
        raise FlexFileError(path, [f"line {parser.CurrentLineNumber}: DTD entities not allowed"])

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.EntityDeclHandler = no_entities
    try:
        with path.open("rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as e:
        reason = expat.errors.messages[e.code]
        where = f"line {e.lineno}, column {e.offset + 1}"
        raise FlexFileError(path, [f"{where}: malformed XML ({reason})"]) from None
    if not root:
        raise FlexFileError(path, ["empty document"])
    return root[0]
