"""The idempotency ids a KPI has recorded, each with the version of the event that recorded it.

Kept as one string, `;id=version;id=version;…` (`%`, `;` and `=` inside an id escaped), plus
the ids added since it was last packed: a snapshot stores and loads them in one piece, and a
lookup is one substring search. A dict of 20,000 ids made every load of the KPI decode 20,000
entries — a reading with an id cost twice as much after 20,000 of them as after 10
(docs/benchmarks.md).
"""

from typing import Any


def _escaped(reading_id: str) -> str:
    return reading_id.replace("%", "%25").replace(";", "%3B").replace("=", "%3D")


class ReadingIds:
    """Reading id → version of the event that recorded it."""

    def __init__(self, packed: str = ";") -> None:
        if not packed.startswith(";") or not packed.endswith(";"):
            raise ValueError("packed reading ids start and end with ';'")
        self._packed = packed
        self._added: dict[str, int] = {}

    def get(self, reading_id: str) -> int | None:
        """The version that recorded this id, or None if it was never recorded."""
        version = self._added.get(reading_id)
        if version is not None:
            return version
        key = f";{_escaped(reading_id)}="
        at = self._packed.find(key)
        if at < 0:
            return None
        start = at + len(key)
        return int(self._packed[start:self._packed.index(";", start)])

    def __contains__(self, reading_id: object) -> bool:
        return isinstance(reading_id, str) and self.get(reading_id) is not None

    def __getitem__(self, reading_id: str) -> int:
        version = self.get(reading_id)
        if version is None:
            raise KeyError(reading_id)
        return version

    def __setitem__(self, reading_id: str, version: int) -> None:
        self._added[reading_id] = version

    def __len__(self) -> int:
        return self._packed.count(";") - 1 + len(self._added)

    def pack(self) -> str:
        """All of them as one string (what a snapshot stores)."""
        if self._added:
            self._packed += "".join(f"{_escaped(k)}={v};" for k, v in self._added.items())
            self._added = {}
        return self._packed

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ReadingIds) and self.pack() == other.pack()

    __hash__ = None  # type: ignore[assignment]  # mutable
