"""The public record: the envelope contract, canonical JSON and hash chain, checkpoints and
their signatures, the relay (transactional outbox) and verification."""
