"""An openOrder as the recorder reads it: a handful of the ib_async ``Order``'s 139 attributes
and what its contract and terms convert to.

A replay's checking pass converts every openOrder of a tape before recording anything, and
keeps what it converted until the recording pass reaches the message: keeping ib_async's
``Order`` and ``Contract`` instead held about twice the replay's memory for attributes the
recorder never reads (docs/adr/0148-open-order-kept-converted.md). The live recorder reads
the same record, made from the objects ib_async's decoder made, and converts their terms only
for an order it has never seen, as it always did.

Live, the contract of an order the recorder knows is never converted (its terms are read
against the contract stored with the order), so a contract that cannot be converted does not
keep its openOrder off the record. A replay keeps such an openOrder as live reads it (its
objects, converted when the recorder needs them) once its terms have been checked: only the
terms can make the line a problem before anything is recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from ib_async import Contract
from ib_async import Order as IbOrder

from ordertrail.adapters.ib import mapping
from ordertrail.domain.values import ContractRef, OrderSpec, OrderType, TimeInForce

# An openOrder's contract and order as domain values.
Terms = tuple[ContractRef, OrderSpec]


def converted(contract: Contract, order: IbOrder) -> Terms:
    cref = mapping.contract_ref(contract)
    return cref, mapping.order_spec(order, cref)


# Any contract: an order's terms are read against a contract only for whether it trades at
# negative prices, and observed terms are never refused for a negative price.
_ANY_CONTRACT = ContractRef(0, "?")


def checked_terms(order: IbOrder) -> OrderSpec:
    """The order's terms, whatever its contract: raises what converting them raises."""
    return mapping.order_spec(order, _ANY_CONTRACT)


def checked(contract: Contract, order: IbOrder) -> None:
    """What live recording could refuse of an openOrder whatever the store holds: its terms,
    and its contract only when its terms can be read (module docstring)."""
    try:
        converted(contract, order)
    except ValueError:  # InvalidFact, InvalidOrderSpec
        checked_terms(order)


class OpenOrder(NamedTuple):
    """One openOrder. ``terms``: its contract and order converted (a replay converted them
    while checking the tape); None for one read live, whose ``contract`` and ``order`` are
    then converted only if the recorder needs them."""

    order_id: int
    client_id: int
    perm_id: int | None
    order_ref: str | None
    parent_id: int
    what_if: bool
    terms: Terms | None
    unnamed: dict[str, str] | None = None
    contract: Contract | None = None
    order: IbOrder | None = None

    @classmethod
    def live(
        cls, order_id: int, contract: Contract, order: IbOrder, client_id: int | None = None
    ) -> OpenOrder:
        """``client_id``: when the message names none (a completedOrder), the one to read."""
        return cls(*_ids(order_id, order, client_id), None, None, contract, order)

    @classmethod
    def kept(cls, order_id: int, contract: Contract, order: IbOrder) -> OpenOrder:
        """Converted now; raises what converting its terms raises (a value IB sent that cannot
        be recorded). A what-if answer, which the recorder skips, is not converted; one whose
        contract cannot be converted is kept as live reads it (module docstring)."""
        if order.whatIf:
            return cls(*_ids(order_id, order), None)
        try:
            cref = mapping.contract_ref(contract)
        except ValueError:  # InvalidFact, InvalidOrderSpec
            checked_terms(order)
            return cls.live(order_id, contract, order)
        spec = mapping.order_spec(order, cref)
        # Only a code ``order_spec`` could not name has a raw code to keep.
        unnamed = None
        if spec.order_type is OrderType.OTHER or spec.tif is TimeInForce.OTHER:
            unnamed = mapping.unnamed_terms(order) or None
        return cls(*_ids(order_id, order), (cref, spec), unnamed)

    def new_order_terms(self) -> tuple[ContractRef, OrderSpec, dict[str, str] | None]:
        """What an order seen first in this message is observed with: its contract, its
        terms, and the raw codes its terms name OTHER (None: none)."""
        if self.terms is not None:
            return self.terms[0], self.terms[1], self.unnamed
        assert self.contract is not None
        assert self.order is not None
        cref, spec = converted(self.contract, self.order)
        return cref, spec, mapping.unnamed_terms(self.order) or None

    def spec_for(self, contract: ContractRef) -> OrderSpec:
        """The order's terms against ``contract`` (the stored contract of a known order may
        be another's): they depend on it only through whether it trades at negative prices.
        Observed terms are never refused for a negative price, so flipping that one field
        gives exactly what converting the order again against ``contract`` gives."""
        if self.terms is None:
            assert self.order is not None
            return mapping.order_spec(self.order, contract)
        spec = self.terms[1]
        if spec.allow_negative_prices == contract.allows_negative_prices:
            return spec
        return replace(spec, allow_negative_prices=contract.allows_negative_prices)


def _ids(
    order_id: int, order: IbOrder, client_id: int | None = None
) -> tuple[int, int, int | None, str | None, int, bool]:
    return (
        order_id,
        int(order.clientId) if client_id is None else client_id,
        int(order.permId or 0) or None,
        order.orderRef or None,
        order.parentId,
        bool(order.whatIf),
    )
