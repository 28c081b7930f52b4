"""The `okr` command: the composition root that wires ledger, Kafka and projections together."""
