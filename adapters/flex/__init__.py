"""IB Flex statements (Activity and Trade Confirmation) imported as facts and reconciled.

``read_flex_file`` reads and validates a whole file; ``FlexImporter`` records it into an
``OrderTrail`` in one transaction; ``reconcile`` compares derived positions with the statement's
``OpenPositions``. See docs/flex.md.
"""
