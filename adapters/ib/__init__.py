"""The IB adapter: turns what IB said through ib_async into domain facts, and our commands into
ib_async calls."""
