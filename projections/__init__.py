"""ordertrail.projections."""
