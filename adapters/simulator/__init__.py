"""A TWS API simulator: a loopback server that the unmodified ib_async client can trade against.

It speaks the TWS wire protocol at server versions 157..178 (178 by default), keeps an order
book with a simple, documented fill model (see :mod:`.orders` and docs/simulator.md), and
offers a control API (:class:`Simulator`) to make the broker behave as real IB sessions do:
partial fills, rejects, cancel races, duplicates, late or missing commission reports,
execution corrections, stuck orders, disconnects and orders placed by hand.
"""

from .contracts import Instrument
from .control import Simulator
from .orders import SimOrder, Status
from .runner import run_simulator, serve
from .scenario import (
    Behaviour,
    BehaviourKind,
    CancelError,
    CommissionTiming,
    Scenario,
    ScenarioError,
    ScriptedFill,
    SessionMessage,
    load_scenario,
    scenario_from_dict,
)
from .session import Direction, MessageTap
from .tws_time import TwsTimeZone

__all__ = [
    "Behaviour",
    "BehaviourKind",
    "CancelError",
    "CommissionTiming",
    "Direction",
    "Instrument",
    "MessageTap",
    "Scenario",
    "ScenarioError",
    "ScriptedFill",
    "SessionMessage",
    "SimOrder",
    "Simulator",
    "Status",
    "TwsTimeZone",
    "load_scenario",
    "run_simulator",
    "scenario_from_dict",
    "serve",
]
