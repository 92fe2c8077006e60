"""ordertrail's domain: orders, their state machine and events. Pure: no I/O, no clock, no
randomness — time and identifiers come in as arguments."""
