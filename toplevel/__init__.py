"""ordertrail: an event-sourced record of every Interactive Brokers order.

Placeholder until the notebook API lands.
"""
