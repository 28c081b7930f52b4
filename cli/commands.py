"""The command classes every `okr` command is built from, and options with a closed set of
choices.

click reads any word that starts with '-' as an option, so `okr checkin kr-1 -4.5` failed with
"No such option: -4". okr has no option that starts with a digit or a dot, so here a word
that reads as a number (-4.5, -.5, -1e3, -inf) is a value wherever it stands; a real option
after it is still read, and a mistyped one (-x, --notee) still fails in one line. Every
`okr.cli.commands.Typer` builds its groups and commands from these classes
(tests/unit/test_shell_conventions.py walks the whole command tree to check).
"""

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer.core import TyperCommand, TyperGroup

# A word that reads as a negative number (domain/numbers.py decides whether it is a good one).
NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]|\.[0-9]|(?:inf|infinity|nan)$)", re.IGNORECASE)


@dataclass(frozen=True)
class DeferredCoercion(RuntimeParam):
    """typer's coercion of one parameter's value, built only for a value that needs it.

    typer 0.29 builds a pydantic TypeAdapter per parameter the first time the parameter is
    processed — for a value of None too, which it then returns untouched — and importing the
    adapters' module loads most of pydantic: half of an `okr scorecard`'s start-up
    (docs/benchmarks.md, issue 20). Here None (and an empty multi-value) is returned as typer
    returns it, without the adapter; so are a word for a `str` parameter and a flag's bool,
    which typer's adapters hand back unchanged. Any other value goes through typer's own
    coercion, built then.
    """

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if (type(value) is self.annotation and self.annotation in (str, bool)
                and self.parameter_info.parser is None):
            return value
        built = param._runtime_param = build_runtime_param(self.descriptor)
        return built._coerce_value(value, param=param, ctx=ctx)


def defer_coercion(params: Sequence[Any]) -> None:
    """Give typer's parameters a DeferredCoercion (where typer has not built one yet)."""
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = DeferredCoercion(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                descriptor=descriptor)


class NumberAware:
    """A command whose parser takes a word that reads as a negative number as a value, and
    whose parameters build typer's coercion only for values that need it."""

    def get_params(self, ctx: Any) -> list[Any]:  # what parsing processes, --help included
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]  # a click Command's
        defer_coercion(params)
        return params

    def make_parser(self, ctx: Any) -> Any:
        parser = super().make_parser(ctx)  # type: ignore[misc]  # mixed into a click Command
        process = parser._process_opts  # one word that starts with '-' ('--' is handled first)

        def process_opts(arg: str, state: Any) -> None:
            if NEGATIVE_NUMBER.match(arg) and arg[:2] not in parser._short_opt:
                state.largs.append(arg)  # a value, where it stands
            else:
                process(arg, state)

        parser._process_opts = process_opts
        return parser


class NumberCommand(NumberAware, TyperCommand):
    """A typer command that reads negative numbers as values."""


class NumberGroup(NumberAware, TyperGroup):
    """A typer group that reads negative numbers as values."""


def _remember_on_behalf_of(ctx: typer.Context, value: str | None) -> str | None:
    """Keep a write's --on-behalf-of name on the invocation's state, checked before the
    command runs (a bad one: one line, exit 2, nothing written)."""
    if value is None:
        return None
    from okr.cli.context import State
    from okr.domain.base import check_on_behalf_of
    from okr.domain.errors import DomainError
    try:
        name = check_on_behalf_of(value)
    except DomainError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--on-behalf-of'") from None
    root = ctx.find_root().obj
    if isinstance(root, State):
        root.on_behalf_of = name
    return name


def _on_behalf_of_option() -> Any:
    return typer.Option(None, "--on-behalf-of", metavar="NAME", callback=_remember_on_behalf_of,
                        help="Whom you record this for (a person, a team): kept beside you, "
                             "the actor, in the trail, history and reviews — a claim, never "
                             "the actor.")


def writes(f: Callable[..., Any], starts_ledger: bool = False) -> Callable[..., Any]:
    """The command `f`, taking --on-behalf-of NAME as well (its value reaches the ledger
    through the invocation's state, not through `f`).

    Unless it `starts_ledger` (what can be recorded first: a cycle, a KPI, a user, a plan),
    the write needs a ledger: in a data directory without one it is refused in one line,
    exit 2, before anything is opened or created — as a read is. A write whose own inline
    publishing would be refused for the signing key's set-up is refused before it saves."""
    sig = inspect.signature(f, eval_str=True)
    extra = inspect.Parameter("on_behalf_of", inspect.Parameter.KEYWORD_ONLY,
                              default=_on_behalf_of_option(), annotation=str | None)

    @functools.wraps(f)
    def command(*args: Any, on_behalf_of: str | None = None, **kwargs: Any) -> Any:
        from okr.cli.context import State
        ctx = next(a for a in (*args, *kwargs.values()) if hasattr(a, "find_root"))
        root = ctx.find_root().obj
        if isinstance(root, State):
            root.needs_ledger, root.starts_ledger = not starts_ledger, starts_ledger
            from okr.cli.publish import check_before_write
            check_before_write(root)  # refused for its publishing's set-up: nothing saved
        return f(*args, **kwargs)

    command.__signature__ = sig.replace(  # type: ignore[attr-defined]  # read by typer
        parameters=[*sig.parameters.values(), extra])
    command.__annotations__ = {**f.__annotations__, "on_behalf_of": str | None}
    return command


class Typer(typer.Typer):
    """typer.Typer whose groups and commands are NumberGroup and NumberCommand."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", NumberGroup)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None,
                **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return super().command(name, cls=cls or NumberCommand, **kwargs)

    def write(self, name: str, *, starts_ledger: bool = False,
              **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A command that records events (it takes --on-behalf-of); only one that
        `starts_ledger` runs where there is no ledger yet (`writes`)."""
        register = self.command(name, **kwargs)
        return lambda f: register(writes(f, starts_ledger))


# ---- closed sets of choices ----------------------------------------------------------------

def completer(words: Sequence[str]) -> Callable[[str], list[str]]:
    """A shell-completion callback offering `words` that start with what was typed."""
    def complete(incomplete: str) -> list[str]:
        return [w for w in words if w.startswith(incomplete)]
    return complete


def words(values: "type[StrEnum] | Sequence[str]") -> list[str]:
    return [str(v) for v in values]


def choice(default: Any, *names: str, values: "type[StrEnum] | Sequence[str]",
           help: str = "") -> Any:
    """An option whose value is one of `values`: listed in --help as [a|b|c] and completed by
    the shell. The value stays text: the domain reads it (with its aliases, in any case) and
    names the choices in one line when it is none of them."""
    listed = words(values)
    return typer.Option(default, *names, help=help, metavar="[" + "|".join(listed) + "]",
                        autocompletion=completer(listed))


def choice_argument(default: Any, *, values: "type[StrEnum] | Sequence[str]",
                    help: str = "") -> Any:
    """An argument whose value is one of `values` (see `choice`)."""
    listed = words(values)
    return typer.Argument(default, help=help, metavar="[" + "|".join(listed) + "]",
                          autocompletion=completer(listed))
