"""The one command-line interface: ``ordertrail``. Each concern adds its commands from its own
module (``register(app)``), so this package is the only place that knows them all."""

from __future__ import annotations

from ordertrail.adapters.cli.main import app, main

__all__ = ["app", "main"]
