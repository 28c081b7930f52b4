"""The pure OKR/KPI model: aggregates, events, scoring and cycle arithmetic. No I/O."""
