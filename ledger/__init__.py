"""The write side: the eventsourcing Application (commands), CSV and KPI-reading imports."""
