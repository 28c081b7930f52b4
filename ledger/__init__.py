"""The write side: the eventsourcing Application, settings, envelope, relay and Kafka I/O."""
