"""ordertrail.adapters."""
