"""Appending lines to a tape file, flushed per message so that a crash loses at most the line
being written (which the reader then reports as torn)."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from pathlib import Path
from typing import IO, Any

import orjson


class TapeFileError(OSError):
    pass


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


class TapeFile:
    """A tape opened for appending. Plain files are appended to in place; a ``.gz`` tape gets
    a new gzip member per open (readers see one stream: gzip concatenates members)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw: IO[bytes] = self._open_raw()
        self._out: IO[bytes] = self._raw
        if is_gzip(self.path):
            self._out = gzip.GzipFile(fileobj=self._raw, mode="ab")  # type: ignore[assignment]
        self.closed = False

    def _open_raw(self) -> IO[bytes]:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and is_gzip(self.path):
            # A gzip member cut short by a crash cannot be followed by another one: the reader
            # would take the next member's bytes for the rest of the torn one.
            try:
                with gzip.open(self.path, "rb") as existing:
                    while existing.read(1 << 20):
                        pass
            except (EOFError, OSError) as e:
                raise TapeFileError(
                    f"{self.path}: the compressed tape is truncated or damaged ({e}); "
                    "record to a new file (ordertrail replay still reads this one)"
                ) from None
        raw = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        if size and not is_gzip(self.path):
            with open(self.path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":
                    # A torn last line from a crash stays a line of its own, reported by the
                    # reader, instead of swallowing the next header.
                    raw.write(b"\n")
        return raw

    def write(self, record: dict[str, Any]) -> None:
        if self.closed:
            raise TapeFileError(f"{self.path}: the tape is closed")
        self._out.write(orjson.dumps(record) + b"\n")
        # GzipFile.flush is a zlib sync flush: everything written so far can be decompressed.
        self._out.flush()
        if self._out is not self._raw:
            self._raw.flush()

    def sync(self) -> None:
        """Flush to the disk (end of a segment, close): survives a power cut, not only a crash."""
        if self.closed:
            return
        self._out.flush()
        self._raw.flush()
        with contextlib.suppress(OSError, io.UnsupportedOperation):
            os.fsync(self._raw.fileno())

    def close(self) -> None:
        if self.closed:
            return
        self.sync()
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()
        self.closed = True
