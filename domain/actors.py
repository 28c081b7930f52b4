"""How a recorded actor is named in every view, with whom they said they acted for."""


def acting(actor: str, on_behalf_of: str | None) -> str:
    """`alice`, or `alice (on behalf of bob)` when the write named someone (--on-behalf-of):
    the actor stays first, the claim is only beside it."""
    return actor if on_behalf_of is None else f"{actor} (on behalf of {on_behalf_of})"
