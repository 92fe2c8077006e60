"""Wire tapes: every TWS API message of a live session, recorded raw before it is interpreted,
replayed through ib_async's own decoder (docs/tape-format.md is the format's spec)."""

from .capture import WireCapture
from .check import check_tape
from .clock import TapeClock
from .format import FORMAT_VERSION, End, Header, Message
from .reader import Problem, TapeScanner
from .replay import Replayer, ReplayReport
from .writer import TapeFile, TapeFileError

__all__ = [
    "FORMAT_VERSION",
    "End",
    "Header",
    "Message",
    "Problem",
    "ReplayReport",
    "Replayer",
    "TapeClock",
    "TapeFile",
    "TapeFileError",
    "TapeScanner",
    "WireCapture",
    "check_tape",
]
