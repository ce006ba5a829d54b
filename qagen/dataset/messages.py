"""The shape of a chat fine-tuning example: its messages by role, tool and function calls, and tool lists.

The chat format has more than system/user/assistant text: an assistant turn may call tools
(``tool_calls``, or the older ``function_call``) instead of writing text, a ``tool`` message
answers one call by its ``tool_call_id``, a ``function`` message answers a function call by
``name``, and the example may declare its ``tools`` (or ``functions``) and
``parallel_tool_calls``. Each is checked for the shape the service takes rather than refused.

Each problem is ``(code, sentence)``; ``qagen.dataset.checks`` owns the codes' severities and
turns them into findings with a line number. Only shapes are checked here, not text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

Problem = tuple[str, str]  # (a code of qagen.dataset.checks.SEVERITY, one sentence)

CHAT_ROLES = frozenset({"system", "user", "assistant", "function", "tool"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})
# Keys only one role may have, and what that role must have besides its role and content.
ROLE_KEYS: dict[str, frozenset[str]] = {"assistant": frozenset({"tool_calls", "function_call"}), "tool": frozenset({"tool_call_id"})}
ROLE_NEEDS: dict[str, tuple[str, ...]] = {"tool": ("tool_call_id",), "function": ("name",)}
CALL_KEYS = ("tool_calls", "function_call")


def json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def calls_instead_of_text(message: Mapping) -> bool:
    """An assistant turn that calls a tool or function may have no text (content absent or null)."""
    return message.get("role") == "assistant" and any(key in message for key in CALL_KEYS)


def uses_tools(example: Mapping, messages: Sequence[object]) -> bool:
    if "tools" in example or "functions" in example:
        return True
    return any(
        isinstance(m, Mapping) and (m.get("role") in ("tool", "function") or any(key in m for key in CALL_KEYS))
        for m in messages
    )


def message_problems(position: int, message: object) -> list[Problem]:
    """Keys, role, content and weight of one message, and the shape of the calls an assistant makes."""
    where = f"message {position}"
    if not isinstance(message, Mapping):
        return [("data_type", f"{where} is a JSON {json_type(message)}, not an object.")]
    role = message.get("role")
    known_role = role if isinstance(role, str) and role in CHAT_ROLES else ""
    found: list[Problem] = []
    text_optional = calls_instead_of_text(message)
    needed = ("role",) + (() if text_optional else ("content",)) + ROLE_NEEDS.get(known_role, ())
    missing = [key for key in needed if key not in message]
    if missing:
        found.append(("message_missing_key", f"{where} has no {' and no '.join(missing)}."))
    allowed = MESSAGE_KEYS | ROLE_KEYS.get(known_role, frozenset())
    unknown = sorted(str(key) for key in message if key not in allowed)
    if unknown:
        found.append(("message_unrecognized_key", f"{where} has unrecognized keys: {', '.join(unknown)}."))
    if not known_role:
        roles = ", ".join(sorted(CHAT_ROLES))
        found.append(("unrecognized_role", f"{where} has role {json.dumps(role, default=str)}, not one of {roles}."))
    content = message.get("content")
    if not (isinstance(content, str) or text_optional and content is None):
        found.append(("missing_content", f"{where} has no text content."))
    for key in ("tool_call_id", "name"):
        if key in message and not isinstance(message[key], str):
            found.append(("message_missing_key", f"{where} has a {key} that is not text."))
    weight = message.get("weight", 0)
    if isinstance(weight, bool) or weight not in (0, 1):
        found.append(("invalid_weight", f"{where} has weight {json.dumps(weight, default=str)}; only 0 or 1 is accepted."))
    if role == "assistant":
        if "tool_calls" in message:
            found += [("invalid_tool_calls", f"{where}: {p}") for p in _tool_calls_problems(message["tool_calls"])]
        if "function_call" in message:
            found += [("invalid_function_call", f"{where}: {p}") for p in _function_problems(message["function_call"], "function_call")]
    return found


def _tool_calls_problems(calls: object) -> list[str]:
    if not isinstance(calls, list):
        return [f"tool_calls is a JSON {json_type(calls)}, not an array of calls."]
    if not calls:
        return ["tool_calls is empty; an assistant message that calls no tool writes content instead."]
    problems = []
    for number, call in enumerate(calls, 1):
        if not isinstance(call, Mapping):
            problems.append(f"tool call {number} is a JSON {json_type(call)}, not an object.")
            continue
        if not isinstance(call.get("id"), str) or not call["id"]:
            problems.append(f"tool call {number} has no id, which its tool message must name.")
        if call.get("type") != "function":
            problems.append(f"tool call {number} has type {json.dumps(call.get('type'), default=str)}, not \"function\".")
        problems += [f"tool call {number}: {p}" for p in _function_problems(call.get("function"), "function")]
    return problems


def _function_problems(function: object, name: str) -> list[str]:
    """A function call: ``{"name": text, "arguments": JSON text}``."""
    if not isinstance(function, Mapping):
        return [f"its {name} is a JSON {json_type(function)}, not an object with a name and arguments."]
    problems = []
    if not isinstance(function.get("name"), str) or not function["name"]:
        problems.append(f"its {name} has no name.")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        problems.append(f"the arguments of its {name} are a JSON {json_type(arguments)}, not JSON text.")
    else:
        try:
            json.loads(arguments)
        except ValueError:
            problems.append(f"the arguments of its {name} are not valid JSON.")
    return problems


def example_problems(example: Mapping, messages: Sequence[object]) -> list[Problem]:
    """The tool lists of an example, and whether its calls and answers fit together."""
    found: list[Problem] = []
    declared: set[str] | None = None
    for key, nested in (("tools", True), ("functions", False)):
        if key not in example:
            continue
        names, problems = _declared(example[key], key, nested)
        found += [("invalid_tools", p) for p in problems]
        if names is not None:
            declared = (declared or set()) | names
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        value = json.dumps(example["parallel_tool_calls"], default=str)
        found.append(("invalid_parallel_tool_calls", f"parallel_tool_calls is {value}, not true or false."))
    called: set[str] = set()
    for position, message in enumerate(messages, 1):
        if not isinstance(message, Mapping):
            continue
        if message.get("role") == "tool" and isinstance(message.get("tool_call_id"), str):
            if message["tool_call_id"] not in called:
                found.append(("unknown_tool_call_id", (
                    f"message {position} answers tool call {json.dumps(message['tool_call_id'])}, "
                    "which no earlier assistant message made."
                )))
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls")
        functions = [c.get("function") for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []
        called |= {c["id"] for c in calls if isinstance(c, Mapping) and isinstance(c.get("id"), str)} if isinstance(calls, list) else set()
        functions.append(message.get("function_call"))
        for function in functions:
            name = function.get("name") if isinstance(function, Mapping) else None
            if declared is not None and isinstance(name, str) and name and name not in declared:
                found.append(("unknown_tool", f"message {position} calls {json.dumps(name)}, which the example's tools do not declare."))
    return found


def _declared(tools: object, key: str, nested: bool) -> tuple[set[str] | None, list[str]]:
    """The function names a ``tools`` list (``{"type": "function", "function": {...}}`` items) or a
    ``functions`` list (the function objects themselves) declares; None when it is not a list."""
    if not isinstance(tools, list):
        return None, [f"{key} is a JSON {json_type(tools)}, not an array."]
    names: set[str] = set()
    problems = []
    for number, tool in enumerate(tools, 1):
        if nested and isinstance(tool, Mapping) and tool.get("type") != "function":
            problems.append(f"{key} item {number} has type {json.dumps(tool.get('type'), default=str)}, not \"function\".")
            continue
        function = tool.get("function") if nested and isinstance(tool, Mapping) else tool
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
            problems.append(f"{key} item {number} has no function name.")
            continue
        names.add(function["name"])
        if "parameters" in function and not isinstance(function["parameters"], Mapping):
            problems.append(f"the parameters of {key} item {number} are a JSON {json_type(function['parameters'])}, not a JSON schema object.")
    return names, problems


def tool_texts(example: Mapping, messages: Sequence[object]) -> list[str]:
    """Text the service counts as tokens besides role, content, name and function_call: tool calls and tool lists."""
    texts = [json.dumps(m["tool_calls"], ensure_ascii=False, default=str)
             for m in messages if isinstance(m, Mapping) and m.get("tool_calls") is not None]
    return texts + [json.dumps(example[key], ensure_ascii=False, default=str) for key in ("tools", "functions") if key in example]
