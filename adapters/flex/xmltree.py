"""A small XML reader for Flex files that keeps every element's line number.

``xml.etree`` drops line numbers, and an error that says "a Trade row lacks conid" without
saying where is useless in a 40 MB statement; expat reports the line of each start tag.

Sizes are bounded before parsing cost explodes: expat re-scans an unfinished token each time
more bytes arrive, so one huge attribute costs time quadratic in its length (8 MiB took 20 s).
The reader feeds the file in chunks and refuses a token that grows past ``MAX_TOKEN_BYTES``
unfinished, and a file larger than ``MAX_FILE_BYTES``, naming the
file and the line where the oversized token starts (docs/flex.md, "Input limits").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from ordertrail.domain.errors import OrdertrailError

# A real Flex row (every attribute of a Trade, a few kB) is far below this; a start tag, a
# comment or a text run longer than this is not something IB writes.
MAX_TOKEN_BYTES = 256 * 1024
# A year of an active account's executions is tens of MB; the tree is held in memory whole.
MAX_FILE_BYTES = 512 * 1024 * 1024
_CHUNK = 64 * 1024


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


def read_tree(
    path: Path, *, max_token: int = MAX_TOKEN_BYTES, max_file: int = MAX_FILE_BYTES
) -> Node:
    """The whole document as nodes (Flex files are attribute-only: text content is ignored)."""
    size = path.stat().st_size
    if size > max_file:
        raise FlexFileError(
            path, [f"file is {size} bytes, above the {max_file}-byte limit for a Flex file"]
        )
    tree = _TreeBuilder(path, max_token)
    try:
        tree.feed()
    except expat.ExpatError as e:
        reason = expat.errors.messages[e.code]
        where = f"line {e.lineno}, column {e.offset + 1}"
        raise FlexFileError(path, [f"{where}: malformed XML ({reason})"]) from None
    if not tree.root:
        raise FlexFileError(path, ["empty document"])
    return tree.root[0]


class _TreeBuilder:
    """expat's handlers, building the nodes as the parser reports each element."""

    def __init__(self, path: Path, max_token: int) -> None:
        self.path, self.max_token = path, max_token
        self.root: list[Node] = []
        self.stack: list[Node] = []
        parser = self.parser = expat.ParserCreate()
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.EntityDeclHandler = self.no_entities
        parser.CommentHandler = self.comment

    def feed(self) -> None:
        parser, fed = self.parser, 0
        with self.path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                fed += len(chunk)
                parser.Parse(chunk, False)
                # Between calls the parser stands at the start of the token it could not finish.
                if fed - parser.CurrentByteIndex > self.max_token:
                    raise self.too_long()
            parser.Parse(b"", True)

    def too_long(self) -> FlexFileError:
        return FlexFileError(
            self.path,
            [
                f"line {self.parser.CurrentLineNumber}: an element, attribute or comment runs "
                f"past {self.max_token} bytes, the limit for one Flex row"
            ],
        )

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if sum(len(k) + len(v) for k, v in attrs.items()) > self.max_token:
            raise self.too_long()
        node = Node(tag, attrs, self.parser.CurrentLineNumber)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root.append(node)
        self.stack.append(node)

    def end(self, _tag: str) -> None:
        self.stack.pop()

    def no_entities(self, *_args: object) -> None:
        # IB never declares entities; refusing them closes the entity-expansion attacks.
        raise FlexFileError(
            self.path, [f"line {self.parser.CurrentLineNumber}: DTD entities not allowed"]
        )

    def comment(self, text: str) -> None:
        if len(text) > self.max_token:
            raise self.too_long()
