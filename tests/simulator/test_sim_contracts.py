"""reqContractDetails against the scenario's instruments, with the real ib_async client: one
answer, an ambiguous answer (two contracts), and error 200 for a contract nobody knows."""

from __future__ import annotations

from typing import Any

from ib_async import Contract, Stock

from ordertrail.adapters.simulator import Instrument, Scenario

CONTRACTS = [
    Instrument(265598, "AAPL", primary_exchange="NASDAQ", long_name="APPLE INC"),
    Instrument(272093, "MSFT", primary_exchange="NASDAQ", long_name="MICROSOFT CORP"),
    Instrument(
        38708077, "MSFT", currency="MXN", exchange="MEXI", primary_exchange="MEXI",
        time_zone_id="America/Mexico_City",
    ),
]  # fmt: skip


def test_one_contract_resolved_by_symbol_type_exchange_currency(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        details = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        assert [d.contract.conId for d in details] == [265598]
        assert (details[0].longName, details[0].contract.primaryExchange) == (
            "APPLE INC", "NASDAQ",
        )  # fmt: skip
        by_con_id = await ib.reqContractDetailsAsync(Contract(conId=272093))
        assert [d.contract.symbol for d in by_con_id] == ["MSFT"]
        [qualified] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
        assert qualified.conId == 272093

    sim_run(body, Scenario(contracts=CONTRACTS))


def test_an_ambiguous_description_lists_every_match(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        details = await ib.reqContractDetailsAsync(Stock("MSFT", "SMART", ""))
        assert sorted(d.contract.conId for d in details) == [272093, 38708077]
        assert {d.contract.currency for d in details} == {"USD", "MXN"}
        assert [d.timeZoneId for d in details if d.contract.currency == "MXN"] == [
            "America/Mexico_City"
        ]

    sim_run(body, Scenario(contracts=CONTRACTS))


def test_an_unknown_contract_is_error_200(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 200, reqId \d+: No security definition")
        ib = await h.connect(1)
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda req_id, code, _text, _contract: errors.append((req_id, code))
        assert await ib.reqContractDetailsAsync(Stock("XYZQ", "SMART", "USD")) == []
        assert [code for _, code in errors] == [200]
        wrong_exchange = await ib.reqContractDetailsAsync(Stock("AAPL", "MEXI", "USD"))
        assert wrong_exchange == []
        assert [code for _, code in errors] == [200, 200]

    sim_run(body, Scenario(contracts=CONTRACTS))
