"""Adapters to the outside: the one kafka-python module, the local broker, PostgreSQL."""
