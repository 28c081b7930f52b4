"""DuckDB projections of the ledger: schema, loaders and point-in-time queries."""
