"""Errors the domain raises.

Commands from our side may be refused (`CommandRefused`); facts from IB never are. Bad input
that cannot even be read as a fact (`InvalidFact`) names the field and the value, so the
adapters can report where it came from.
"""

from __future__ import annotations


class OrdertrailError(Exception):
    """Base class of every error ordertrail raises on purpose."""


class InvalidOrderSpec(OrdertrailError, ValueError):
    """An order specification that IB would reject or that makes no sense."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidPolicy(OrdertrailError, ValueError):
    """A RiskGate limit that cannot be a limit (NaN, negative)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class CommandRefused(OrdertrailError):
    """A command from our side that the order's state does not allow. Nothing was recorded."""

    def __init__(self, command: str, status: str, reason: str) -> None:
        super().__init__(f"cannot {command} an order in status {status}: {reason}")
        self.command = command
        self.status = status
        self.reason = reason


class InvalidFact(OrdertrailError, ValueError):
    """A value from IB that cannot be interpreted (NaN quantity, negative shares, ...)."""

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(f"{field}={value!r}: {message}")
        self.field = field
        self.value = value
        self.reason = message
