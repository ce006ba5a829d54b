"""A setting's declaration: ``Option`` (type, default, valid range, help) and reading values from text.

``qagen.settings`` declares every setting with it; the flags, the ``QAGEN_*`` variables and
the config file keys all come from an Option's name, so they cannot drift apart.
``is_local_endpoint`` tells a server on this machine, whose default timeout is longer.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qagen.errors import ConfigError

ENV_PREFIX = "QAGEN_"


# --------------------------------------------------------------------------- value parsers


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _int(value: Any) -> int:
    # bool is an int to Python, but `chunk_size = true` in a config file is a mistake.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value))


def _texts(value: Any) -> tuple[str, ...]:
    # In the environment several phrasings are separated by "|"; a config file gives a list.
    # Blank items are kept, so that an option that refuses them (``Option.not_blank``) sees them.
    items = value.split("|") if isinstance(value, str) else list(value)
    if not items:
        raise ValueError("nothing given")
    return tuple(str(item).strip() for item in items)


PARSERS: dict[type, Callable[[Any], Any]] = {bool: _bool, int: _int, float: _float, str: _text, Path: _path, tuple: _texts}


# --------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class Option:
    """One setting. ``name`` is its key, its flag (dashes for underscores) and its QAGEN_ variable."""

    name: str
    kind: type  # bool, int, float, str, Path, or tuple (of str)
    default: Any
    help: str
    low: float | None = None  # valid range; ``low_open``/``high_open`` exclude the bound itself
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is a valid value ("not set": the service's default, no file ...)
    field: str = ""  # the dataclass field, when it differs from the name
    flag_only: bool = False  # not read from the environment or a config file (e.g. --restart)
    secret: bool = False  # never in reports, reprs or error messages
    # Text (or, for a tuple, any of its phrases) that is empty or only spaces is refused, and this
    # says what to do instead: a blank value almost always means a variable that expanded to nothing.
    not_blank: str = ""

    @property
    def attr(self) -> str:
        return self.field or self.name

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def valid_range(self) -> str:
        """The valid values in words, for the README, --help and error messages."""
        if self.choices:
            return " or ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        low = "" if self.low is None else f"{'above' if self.low_open else 'at least'} {_number(self.low)}"
        high = "" if self.high is None else f"{'below' if self.high_open else 'at most'} {_number(self.high)}"
        return " and ".join(filter(None, [low, high]))

    def convert(self, value: Any, origin: str) -> Any:
        """The value as the setting's type, checked against its range.

        ``origin`` names the setting where it came from ("--chunk-size", "environment variable
        QAGEN_CHUNK_SIZE", "chunk_size in config file qagen.toml"); it begins the error sentence.
        """
        if value is None and self.optional:
            return None
        shown = "(hidden)" if self.secret else repr(value)
        try:
            converted = PARSERS[self.kind](value)
        except (TypeError, ValueError):
            # An empty list of phrases is the blank value of a tuple setting: say what to do instead.
            hint = f"; {self.not_blank}" if self.not_blank and self.kind is tuple else ""
            raise ConfigError(f"{origin} must be {_KIND_WORDS[self.kind]} (got {shown}){hint}.") from None
        if (self.choices and converted not in self.choices) or (self.kind in (int, float) and not self._in_range(converted)):
            raise ConfigError(f"{origin} must be {self.valid_range()} (got {shown}).")
        if self.not_blank and self.kind in (str, tuple) and _has_blank(converted):
            what = "hold an empty or blank phrase" if self.kind is tuple else "be empty or blank"
            raise ConfigError(f"{origin} must not {what} (got {shown}); {self.not_blank}.")
        return converted

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True


def _has_blank(value: str | tuple[str, ...]) -> bool:
    return any(not text.strip() for text in ((value,) if isinstance(value, str) else value))


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


_KIND_WORDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "text",
    Path: "a path",
    tuple: "one or more phrases",
}


# Names earlier versions used; a config file or script that still says them gets told the new one.
_RENAMED = {"chunk_tokens": "chunk_size", "overlap_tokens": "chunk_overlap", "system_message": "system", "refusals": "refusal"}


def unknown_setting(name: str, known: Iterable[str], origin: str) -> ConfigError:
    known = list(known)
    if _RENAMED.get(name) in known:
        hint = f" (it is called {_RENAMED[name]} now)"
    elif close := difflib.get_close_matches(name, known, n=1):
        hint = f" (did you mean {close[0]}?)"
    else:
        hint = f" (known: {', '.join(sorted(known))})"
    return ConfigError(f"{origin}: unknown setting {name!r}{hint}.")


def read_config_file(path: Path, options: Mapping[str, Option]) -> dict[str, Any]:
    """The settings of a TOML file (top level, or a ``[qagen]`` table), by name."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI (a dependency on Python 3.10 only)
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from None
    table = data.get("qagen", data)
    allowed = {name for name, option in options.items() if not option.flag_only}
    for name in table:
        if name not in allowed:
            raise unknown_setting(name, allowed, f"config file {path}")
    return dict(table)


def is_local_endpoint(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine (localhost, a loopback address)."""
    host = (urlsplit(base_url or "").hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.") or host.endswith(".localhost")
