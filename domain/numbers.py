"""How a number may be spelled where a person types one (a CLI argument, a CSV cell).

ASCII decimal only: an optional sign, digits with an optional decimal point, an optional
exponent (`12`, `-0.5`, `.5`, `2.`, `1e3`, `+2.5E-2`), with spaces or tabs around it. Python's
float() reads more — other scripts' digits (`١٢٣`), digit-group underscores (`1_000`),
`nan`/`inf` — and a value typed in one of those spellings is more likely a slip than meant:
`1_000` next to `1,000` and `1.000`, all different. So they are refused, in one line, and what
is stored is exactly the number the ASCII spelling says.
"""

import math
import re
from decimal import ROUND_FLOOR, Decimal

from okr.domain.errors import DomainError

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def parse_number(text: str, what: str) -> float:
    """The finite number `text` spells in ASCII decimal, or a DomainError naming `what`."""
    bare = text.strip(" \t")
    if _NOT_FINITE.fullmatch(bare):
        raise DomainError(f"{what} must be a finite number, not {text!r}")
    if not _DECIMAL.fullmatch(bare):
        raise DomainError(f"{what} {text!r} is not a number (write ASCII digits, e.g. 1000, "
                          "-2.5 or 1e3)")
    value = float(bare)
    if not math.isfinite(value):
        raise DomainError(f"{what} must be a finite number, not {text!r}")
    return value


def figure(x: float) -> str:
    """A number as text for people, in one place: up to 12 significant digits (what people
    type), positional from 10^-4 to below 10^12 — 1000000, 1234567.5, 0.25 — and in exponent
    notation outside (1e-05, 1e+12). Python's `:g` keeps 6 digits: it said 1,000,000 as
    '1e+06' and 1,234,567.5 as '1.23457e+06', a figure an auditor cannot check against the
    record. A value with more than 12 significant digits is rounded to 12 here; JSON keeps
    every number exact."""
    return f"{x:.12g}"


def shown(x: float, places: int) -> Decimal:
    """A score, progress or other 0–1 fraction as it is shown, in one place: rounded DOWN to
    `places` decimals after the noise of binary floating point is taken off (its 12
    significant digits, `figure`). Shown rounded, 0.697 was '70%' beside 'missed' under
    an aspirational objective's bar of 0.7, and 0.996 '100%' under a committed one's 1.0: a
    figure shown never reaches a bar the number missed. 0.925 is 92% and 0.92; 0.6999999999999999
    (0.7 in binary) is 70% and 0.70."""
    return Decimal(figure(x)).quantize(Decimal(1).scaleb(-places), ROUND_FLOOR) + 0  # no -0


def percent(x: float) -> str:
    """A 0–1 fraction as a whole percentage, by `shown`: '92%'."""
    return f"{shown(x * 100, 0)}%"


def fraction(x: float) -> str:
    """A 0–1 fraction to two decimals, by `shown`: '0.92'."""
    return str(shown(x, 2))
