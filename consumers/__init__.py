"""Kafka consumers that keep the projections and the ledger fed."""
