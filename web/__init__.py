"""`okr serve`: the web app and JSON API over the same ledger service and projection as the CLI."""
