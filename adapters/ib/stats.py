"""What a recorder did, for the status line and the exit code of the commands that record."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RecorderStats:
    statuses: int = 0
    executions: int = 0
    commissions: int = 0
    errors: int = 0
    requests: int = 0  # placeOrder / modify / cancelOrder seen leaving the client
    session: int = 0  # messages about no order, in the session log
    discovered: int = 0
    repeats: int = 0
    held: int = 0
    problems: list[str] = field(default_factory=list)  # facts that could not be recorded
    warnings: list[str] = field(default_factory=list)  # recorded, but not what IB documents

    def as_dict(self) -> dict[str, int]:
        return {
            "statuses": self.statuses,
            "executions": self.executions,
            "commissions": self.commissions,
            "errors": self.errors,
            "requests": self.requests,
            "session": self.session,
            "discovered": self.discovered,
            "repeats": self.repeats,
            "held": self.held,
            "problems": len(self.problems),
            "warnings": len(self.warnings),
        }
