"""okr-ledger: an event-sourced ledger of OKRs and KPIs with a full audit history."""

__version__ = "0.1.0"
