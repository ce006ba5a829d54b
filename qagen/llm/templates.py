"""Chat templates: loading them from JSON and rendering them with Jinja.

A template file holds a list of chat messages whose contents are Jinja templates,
plus request parameters. Rendering runs in Jinja's sandbox with strict undefined
variables. Document text only ever enters as the *value* of a variable, so a
document containing ``{{ x }}`` or ``{% raw %}`` is rendered literally, never
compiled.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from qagen.errors import TemplateError
from qagen.records import Message

ROLES = ("system", "user", "assistant")
# Request parameters a template may set; anything else is likely a typo.
ALLOWED_PARAMS = {
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "response_format",
}

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class ChatTemplate:
    name: str  # file name, for messages
    messages: tuple[Message, ...]  # contents are Jinja source
    params: dict = field(default_factory=dict, hash=False)
    digest: str = ""  # sha256 of the file bytes: part of a run's fingerprint
    variables: frozenset[str] = frozenset()  # variables the messages use

    def render(self, **variables: object) -> tuple[Message, ...]:
        missing = self.variables - variables.keys()
        if missing:
            raise TemplateError(
                f"template {self.name} uses {', '.join(sorted(missing))}, which qagen does not provide "
                f"(available: {', '.join(sorted(variables))})."
            )
        rendered = []
        for message in self.messages:
            try:
                content = _ENV.from_string(message.content).render(**variables)
            except jinja2.TemplateError as exc:  # includes sandbox security errors and undefined variables
                raise TemplateError(f"template {self.name} failed to render: {exc}.") from exc
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
        used |= meta.find_undeclared_variables(parsed)
        messages.append(Message(item["role"], item["content"]))
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
    )
