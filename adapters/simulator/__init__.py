"""A TWS API simulator: a loopback server that the unmodified ib_async client can trade against.

It speaks the TWS wire protocol at server versions 157..178 (178 by default), keeps an order
book with a simple, documented fill model (see :mod:`.orders` and docs/simulator.md), and
offers a control API (:class:`Simulator`) to make the broker behave as real IB sessions do:
partial fills, rejects, cancel races, duplicates, late or missing commission reports,
execution corrections, stuck orders, disconnects and orders placed by hand.
"""

from .control import Simulator
from .orders import SimOrder, Status
from .runner import run_simulator, serve
from .scenario import (
    Behaviour,
    BehaviourKind,
    CommissionTiming,
    Scenario,
    ScenarioError,
    ScriptedFill,
    load_scenario,
    scenario_from_dict,
)
from .session import Direction, MessageTap

__all__ = [
    "Behaviour",
    "BehaviourKind",
    "CommissionTiming",
    "Direction",
    "MessageTap",
    "Scenario",
    "ScenarioError",
    "ScriptedFill",
    "SimOrder",
    "Simulator",
    "Status",
    "load_scenario",
    "run_simulator",
    "scenario_from_dict",
    "serve",
]
