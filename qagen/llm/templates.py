"""Chat templates: loading them from JSON and rendering them with Jinja.

A template file holds a list of chat messages whose contents are Jinja templates,
plus request parameters. Rendering runs in Jinja's sandbox with strict undefined
variables. Document text only ever enters as the *value* of a variable, so a
document containing ``{{ x }}`` or ``{% raw %}`` is rendered literally, never
compiled.

A template is the user's code running inside qagen, so everything it can do wrong is
one ``TemplateError`` naming the file: a syntax error, a tag that needs other files,
bad request parameters (when it loads), and any exception while rendering. The sandbox
also bounds what one expression can cost: ranges (Jinja's ``MAX_RANGE``), powers,
repeated text, and the size of a rendered message.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment, SecurityError

from qagen.errors import TemplateError
from qagen.llm.params import ALLOWED_PARAMS, param_problem, pinned_response_format
from qagen.records import Message

ROLES = ("system", "user", "assistant")
# Text one expression may repeat into, and what a rendered message may hold beyond twice the
# text passed into it: far more than any prompt, far less than a loop run away with the memory.
MAX_RENDERED_CHARS = 10_000_000
MAX_POWER_BITS = 100_000  # an integer power with a result this large is a mistake, and slow to compute
# Tags that read other template files: a template is one file, and the environment has no loader.
_TAG_START = re.compile(r"\{[{%#]")  # Jinja's default delimiters: {{ }}, {% %}, {# #}
_OTHER_FILES = {nodes.Include: "{% include %}", nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}", nodes.Extends: "{% extends %}"}


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with the two operators that can build a huge value from a short expression bounded."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: jinja2.runtime.Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**" and _whole(left) and _whole(right) and right > 0 and abs(left) > 1:
            if right * abs(left).bit_length() > MAX_POWER_BITS:
                raise SecurityError(f"the power {left} ** {right} is too large to compute")
        if operator_ == "*":
            for text, times in ((left, right), (right, left)):
                if isinstance(text, (str, list, tuple)) and _whole(times) and len(text) * times > MAX_RENDERED_CHARS:
                    unit = "characters" if isinstance(text, str) else "items"
                    raise SecurityError(
                        f"repeating {len(text):,} {unit} {times:,} times makes {len(text) * times:,} {unit}, "
                        f"over the limit of {MAX_RENDERED_CHARS:,}"
                    )
        return super().call_binop(context, operator_, left, right)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded_range(*args: int) -> range:
    # Jinja's own range has the same limit; this one says it in one sentence.
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range({', '.join(map(str, args))}) has {len(numbers):,} numbers, over the sandbox's limit of {MAX_RANGE:,}")
    return numbers


_ENV = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals["range"] = _bounded_range


def _template_line(exc: BaseException) -> int | None:
    """The line of the template that raised, from the frames Jinja rewrites to point into it."""
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_message(compiled: jinja2.Template, variables: dict[str, object]) -> str:
    # Piece by piece, so a loop that runs away is stopped at the limit, not when memory runs out.
    limit = MAX_RENDERED_CHARS + 2 * sum(len(str(value)) for value in variables.values())
    pieces, size = [], 0
    for piece in compiled.generate(**variables):
        size += len(piece)
        if size > limit:
            raise TemplateError(f"the message grew past {limit:,} characters (a loop or a repeat makes too much text)")
        pieces.append(piece)
    return "".join(pieces)


@dataclass(frozen=True)
class ChatTemplate:
    name: str  # file name, for messages
    messages: tuple[Message, ...]  # contents are Jinja source
    params: dict = field(default_factory=dict, hash=False)
    digest: str = ""  # sha256 of the file bytes: part of a run's fingerprint
    variables: frozenset[str] = frozenset()  # variables the messages use
    # The messages compiled once, when the template loads: compiling them for every chunk took
    # about 25 times as long as rendering them (0.8 ms against 0.03 ms for templates/qa.json).
    compiled: tuple[jinja2.Template, ...] = field(default=(), compare=False, hash=False, repr=False)
    # The text of each message that holds no Jinja tag (None where it does), rendered once when the template
    # loads: a template's system and worked-example messages are the same for every chunk, and rendering them
    # again was three quarters of the rendering of templates/qa.json.
    fixed: tuple[str | None, ...] = field(default=(), compare=False, hash=False, repr=False)

    def request_params(self, count: int | None = None) -> dict:
        """The parameters of one request made from this template, asking for ``count`` items when given.

        The count pins the length of the list a ``json_schema`` response format asks for.
        """
        params = dict(self.params)
        if count is not None and isinstance(params.get("response_format"), dict):
            params["response_format"] = pinned_response_format(params["response_format"], count)
        return params

    def render(self, **variables: object) -> tuple[Message, ...]:
        missing = self.variables - variables.keys()
        if missing:
            raise TemplateError(
                f"template {self.name} uses {', '.join(sorted(missing))}, which qagen does not provide "
                f"(available: {', '.join(sorted(variables))})."
            )
        compiled = self.compiled or tuple(_ENV.from_string(m.content) for m in self.messages)
        fixed = self.fixed or (None,) * len(self.messages)
        rendered = []
        for position, (message, template, text) in enumerate(zip(self.messages, compiled, fixed), start=1):
            if text is not None:
                rendered.append(Message(message.role, text))
                continue
            try:
                content = _render_message(template, variables)
            except Exception as exc:  # noqa: BLE001 - the template's own code can raise anything Python can
                line = _template_line(exc)
                where = f"message {position}" + (f", line {line}" if line else "")
                reason = str(exc).strip().rstrip(".") or type(exc).__name__
                raise TemplateError(f"template {self.name} failed to render ({where}): {reason}.") from None
            rendered.append(Message(message.role, content))
        return tuple(rendered)


def builtin_template_path(name: str) -> Path:
    resource = importlib.resources.files("qagen.templates").joinpath(f"{name}.json")
    return Path(str(resource))


def load_template(path: Path, *, required: frozenset[str] = frozenset()) -> ChatTemplate:
    """Read and check a template file; every problem is a TemplateError naming the file."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TemplateError(f"template {name} does not exist.") from None
    except OSError as exc:
        raise TemplateError(f"template {name} cannot be read: {exc.strerror}.") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise TemplateError(f"template {name} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"template {name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list) or not data["messages"]:
        raise TemplateError(f'template {name} must be a JSON object with a non-empty "messages" list.')

    messages = []
    compiled: list[jinja2.Template] = []
    fixed: list[str | None] = []
    used: set[str] = set()
    for position, item in enumerate(data["messages"], start=1):
        if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("content"), str):
            raise TemplateError(
                f'template {name}: message {position} needs a "role" ({", ".join(ROLES)}) and a string "content".'
            )
        try:
            parsed = _ENV.parse(item["content"])
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {name}: message {position} has a Jinja syntax error: {exc.message} (line {exc.lineno}).") from None
        for node in parsed.find_all(tuple(_OTHER_FILES)):
            raise TemplateError(
                f"template {name}: message {position} uses {_OTHER_FILES[type(node)]} (line {node.lineno}), but a template "
                "is one file and cannot read others; put that text into the message itself."
            )
        used |= meta.find_undeclared_variables(parsed)
        messages.append(Message(item["role"], item["content"]))
        compiled.append(_ENV.from_string(parsed))
        # With no tag there is nothing to vary; rendered rather than copied, as Jinja rewrites line endings.
        fixed.append(compiled[-1].render() if not _TAG_START.search(item["content"]) else None)
    if messages[-1].role != "user":
        raise TemplateError(f"template {name}: the last message must be the user message that asks the question.")

    params = data.get("params", {})
    if not isinstance(params, dict):
        raise TemplateError(f'template {name}: "params" must be a JSON object.')
    unknown = set(params) - ALLOWED_PARAMS
    if unknown:
        raise TemplateError(
            f"template {name}: unknown request parameter(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(ALLOWED_PARAMS))})."
        )
    for param, value in params.items():
        allowed = param_problem(param, value)
        if allowed:
            shown = json.dumps(value, ensure_ascii=False)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise TemplateError(f'template {name}: "params" {param} must be {allowed} (got {shown}).')
    absent = required - used
    if absent:
        raise TemplateError(
            f"template {name} never uses {', '.join('{{ ' + v + ' }}' for v in sorted(absent))}; the passage and the pair count must reach the model."
        )
    return ChatTemplate(
        name=name,
        messages=tuple(messages),
        params=dict(params),
        digest=hashlib.sha256(raw).hexdigest(),
        variables=frozenset(used),
        compiled=tuple(compiled),
        fixed=tuple(fixed),
    )
