"""The JSON body of one chat-completions request, built once.

The online client sends it, and a batch input file holds it as each line's ``body``, so what is
asked is the same whichever way it travels.
"""

from __future__ import annotations

from typing import Any

from qagen.records import Request


def chat_request_body(model: str, request: Request, params: dict[str, Any]) -> dict[str, Any]:
    """``{"model", "messages", **params}``: ``params`` are the request's, as the endpoint takes them."""
    return {"model": model, "messages": [m.as_dict() for m in request.messages], **params}
