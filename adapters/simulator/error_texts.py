"""TWS's texts for the error codes the simulator sends, so that tests and users see what a real
session shows. A code missing here is sent with the text its caller gives (or none)."""

from __future__ import annotations

from typing import Final

# Answers to requests about orders.
ORDER_TEXTS: Final = {
    103: "Duplicate order id",
    104: "Can't modify a filled order",
    110: "The price does not conform to the minimum price variation for this contract.",
    200: "No security definition has been found for the request",
    201: "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
    "POSITION YOUR EQUITY WITH LOAN VALUE [0.00 USD] MUST EXCEED THE INITIAL MARGIN",
    202: "Order Canceled - reason:",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
}

# Messages about the session, sent with reqId -1.
SESSION_TEXTS: Final = {
    504: "Not connected",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2105: "HMDS data farm connection is broken:ushmds",
    2106: "HMDS data farm connection is OK:ushmds",
    2107: "HMDS data farm connection is inactive but should be available upon demand.ushmds",
    2108: "Market data farm connection is inactive but should be available upon demand.usfarm",
    2110: "Connectivity between Trader Workstation and server is broken. "
    "It will be restored automatically.",
    2157: "Sec-def data farm connection is broken:secdefil",
    2158: "Sec-def data farm connection is OK:secdefil",
}

# What a TWS says to every client that connects while its farms are up.
FARMS_OK: Final = (2104, 2106, 2158)


def text_for(code: int) -> str:
    return ORDER_TEXTS.get(code) or SESSION_TEXTS.get(code, "")
