"""The simulator's tests use the ``ib_errors`` and ``sim_run`` fixtures of ordertrail's own
pytest plugin (``ordertrail.adapters.testing.plugin``), exactly as users of ``ordertrail[testing]``
do, so the testing kit is exercised by every run."""

from ordertrail.adapters.testing.harness import Harness, IbErrorLog

__all__ = ["Harness", "IbErrorLog"]
