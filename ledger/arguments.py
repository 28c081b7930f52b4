"""The Python API's boundary: every public method of the ledger checks its arguments against
its own type hints before it runs, so a caller's wrong type or a datetime without a zone is a
DomainError of one line naming the method and the argument — never a TypeError from deep
inside, and never anything recorded. The CLI and the web reach the same methods with values
they already parsed, so they never see these refusals."""

import functools
import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints, is_typeddict

from okr.domain.errors import DomainError

Hint = Any


def _is(value: Any, hint: Hint) -> bool:
    """Whether `value` is of the type `hint` names (containers and typed dicts to the end)."""
    origin: Any = get_origin(hint)
    args = get_args(hint)
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if origin in (Union, types.UnionType):
        return any(_is(value, a) for a in args)
    if hint is None or hint is type(None):
        return value is None
    if origin is Literal:
        return value in args
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if is_typeddict(hint):
        fields = get_type_hints(hint)
        return (isinstance(value, dict) and set(value) == set(fields)
                and all(_is(value[k], h) for k, h in fields.items()))
    if origin is list:  # any sequence but text (a tuple is taken as the list it holds)
        return (isinstance(value, Sequence) and not isinstance(value, str | bytes)
                and all(_is(v, args[0]) for v in value))
    if origin is dict:  # any mapping (os.environ, a MappingProxyType)
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    if origin is not None:  # type[...], Iterable[...], Callable[...]: the container itself
        return isinstance(value, origin if isinstance(origin, type) else object)
    return isinstance(value, hint) if isinstance(hint, type) else True


NAMES: dict[Any, str] = {float: "a number", int: "a whole number", str: "text",
                         bool: "True or False", datetime: "a datetime with a time zone",
                         type(None): "None"}


def _expected(hint: Hint) -> str:
    """What an argument of type `hint` must be, in words."""
    origin: Any = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_expected(a) for a in args)
    if origin is list:
        return f"a list of {_expected(args[0]).removeprefix('a ')}"
    if origin is dict or origin is Mapping:
        return "a mapping of names to values"
    if is_typeddict(hint):
        fields = ", ".join(f"{k!r}: {_expected(h)}" for k, h in get_type_hints(hint).items())
        return f"phased targets {{{fields}}}" if hint.__name__ == "Phase" else \
            f"a mapping {{{fields}}}"
    return NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _naive(value: Any) -> datetime | None:
    """A datetime without a zone in the value (itself, or in a list of mappings), if any."""
    if isinstance(value, datetime):
        return value if value.utcoffset() is None else None
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for item in value:
            if isinstance(item, Mapping):
                found = next((v for v in map(_naive, item.values()) if v is not None), None)
                if found is not None:
                    return found
    return None


def _as_hinted(value: Any, hint: Hint) -> Any:
    """A sequence or mapping that `_is` took for a list or dict hint, as that list or dict
    (the method stores or changes what it is given as the type it names)."""
    if isinstance(value, list | dict | str | bytes):
        return value
    origin: Any = get_origin(hint)
    hints = get_args(hint) if origin in (Union, types.UnionType) else (hint,)
    origins = {get_origin(h) for h in hints}
    if list in origins and isinstance(value, Sequence):
        return list(value)
    if dict in origins and isinstance(value, Mapping):
        return dict(value)
    return value


def _in_utc(method: str, name: str, value: Any) -> Any:
    """`value` with its datetimes — itself, or those in a list of mappings (phases) — in UTC:
    times are UTC inside, whatever offset the caller gave. One that is beyond the years 1 to
    9999 in UTC is refused (9999-12-31T23:00-23:00 is in the year 10000 there)."""
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise DomainError(f"{method}(): {name} {value.isoformat()} is out of range: in UTC "
                              "it must fall in the years 1 to 9999") from None
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [{k: _in_utc(method, name, v) for k, v in item.items()}
                if isinstance(item, dict) else item for item in value]
    return value


def _refusal(method: str, name: str, hint: Hint, value: Any) -> DomainError | None:
    if not _is(value, hint):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return DomainError(f"{method}(): {name} must be {_expected(hint)}, not "
                           f"{type(value).__name__} {shown}")
    naive = _naive(value)
    if naive is not None:
        return DomainError(f"{method}(): {name} {naive.isoformat()} has no time zone; pass an "
                           "aware datetime, e.g. datetime(2026, 11, 3, tzinfo=UTC)")
    return None


def checked(f: Callable[..., Any]) -> Callable[..., Any]:
    """`f`, refusing (DomainError) an argument that is not of its hinted type, or a datetime
    without a zone, before it runs."""
    @functools.cache
    def signature() -> tuple[dict[str, Hint], list[tuple[str, Hint]], Hint]:
        # read at the first call, not at import: the CLI's start-up does not pay for it
        hints = get_type_hints(f)
        params = list(inspect.signature(f).parameters.values())
        positional = [(p.name, hints.get(p.name, Any)) for p in params
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        star = next((hints.get(p.name, Any) for p in params if p.kind == p.VAR_POSITIONAL),
                    Any)
        return hints, positional, star

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hints, positional, star = signature()
        given = list(args)
        for i, value in enumerate(args[1:], 1):  # args[0] is self
            name, hint = positional[i] if i < len(positional) else ("arguments", star)
            if (exc := _refusal(f.__name__, name, hint, value)) is not None:
                raise exc
            given[i] = _in_utc(f.__name__, name, _as_hinted(value, hint))
        for name, value in kwargs.items():
            hint = hints.get(name, Any)
            if (exc := _refusal(f.__name__, name, hint, value)) is not None:
                raise exc
            kwargs[name] = _in_utc(f.__name__, name, _as_hinted(value, hint))
        return f(*given, **kwargs)

    wrapper.__checked__ = True  # type: ignore[attr-defined]  # test_api_arguments looks
    return wrapper


def check_public_methods(cls: type, skip: Iterable[str] = ()) -> None:
    """Put `checked` around every public method `cls` defines, and its `__init__`."""
    for name, f in list(vars(cls).items()):
        public = not name.startswith("_") or name == "__init__"
        if public and inspect.isfunction(f) and name not in skip:
            setattr(cls, name, checked(f))
