"""The pieces several readers and checks share: reasoning blocks, text folding, request keys, chat token framing."""

from __future__ import annotations

import pytest

from qagen.documents.tokens import count_chat_tokens
from qagen.evaluate.runner import EvalItem, answer_request
from qagen.llm.keys import message_parts, request_key
from qagen.quality.idk.pairs import idk_pair
from qagen.quality.text import fold, squash, unify
from qagen.records import Message
from qagen.replies.reasoning import answer_start, strip_reasoning

# --- reasoning blocks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "<think>maybe 9</think>The fare is £9.40.",
        "<thinking>maybe 9</thinking>The fare is £9.40.",
        "<reasoning>maybe 9</reasoning>The fare is £9.40.",
        "<THINK>maybe 9</Think>The fare is £9.40.",  # any letter case
        "<Reasoning>maybe 9</REASONING>The fare is £9.40.",
        "  \n\t<think>maybe 9</think>The fare is £9.40.",  # whitespace before the block
        "<think>maybe 9</thinking>The fare is £9.40.",  # closed by another of the tags
        "maybe 9</think>The fare is £9.40.",  # the server dropped the opening tag
    ],
)
def test_a_reasoning_block_ends_at_its_first_closing_tag(reply: str) -> None:
    start = answer_start(reply)
    assert start is not None and reply[start:] == "The fare is £9.40."
    assert strip_reasoning(reply) == "The fare is £9.40."


@pytest.mark.parametrize("reply", ["<think>still thinking", "  <THINKING>still", "\n<reasoning>{\"a\": 1}"])
def test_an_unclosed_reasoning_block_means_no_answer(reply: str) -> None:
    assert answer_start(reply) is None
    assert strip_reasoning(reply) == ""


@pytest.mark.parametrize("reply", ["The fare is £9.40.", "The fare is <think> £9.40.", "<thinker>The fare</thinker>", ""])
def test_without_a_reasoning_block_the_whole_reply_is_the_answer(reply: str) -> None:
    assert answer_start(reply) == 0
    assert strip_reasoning("  " + reply + "\n") == reply.strip()


# --- text normalisation ------------------------------------------------------------------


def test_unify_fold_and_squash() -> None:
    assert unify("Don’t say “Ｗhat”") == "Don't say \"What\""  # NFKC and typographic quotes, case kept
    assert fold("Don’t say “Ｗhat” STRASSE") == "don't say \"what\" strasse"
    assert fold("Straße") == fold("STRASSE")
    assert squash("  a \t b\n\nc  ") == "a b c"


# --- request keys ------------------------------------------------------------------------

MESSAGES = (Message("system", "You write questions."), Message("user", "Excerpt: “Brannoch” ferry £9.40\nline two"))


def test_request_keys_are_the_ones_existing_journals_hold() -> None:
    # Computed with the key code before it was merged into qagen.llm.keys: a different key
    # would make every resumed run pay for its answers again.
    assert request_key("idk", *message_parts(MESSAGES)) == "idk-c74f390b82be20b5"
    assert request_key("idk-check", *message_parts(MESSAGES)) == "idk-check-c74f390b82be20b5"
    assert request_key("judge", *message_parts(MESSAGES)) == "judge-c74f390b82be20b5"
    assert request_key("judge") == "judge-e3b0c44298fc1c14"
    assert request_key("eval", "gpt-4.1-mini", *message_parts(MESSAGES)) == "eval-ebf01744b847ebb4"
    assert request_key("evaljudge", "judge-model", *message_parts(MESSAGES)) == "evaljudge-a4d104e555937416"


def test_callers_make_the_same_keys_as_before() -> None:
    assert idk_pair("Who designed the logo of Northwind Logistics?", ["I don't know."], 0).id == "idk-1b7958526ad13551"
    item = EvalItem("p", "grounded", "What is the fare?", "£9.40", "Be brief.")
    assert answer_request(item, "ft:gpt-4.1-mini:org::x").key == "eval-424c634440a3737f"


# --- chat token framing ------------------------------------------------------------------


def test_chat_token_framing() -> None:
    def count_words(text: str) -> int:
        return len(text.split())

    assert count_chat_tokens([], count_words) == 3  # the reply priming only
    messages = [{"role": "user", "content": "a b c"}, {"role": "assistant", "content": "d", "name": "bot"}]
    # 3 priming; per message 3 + role + content; a name costs its words and 1 more.
    assert count_chat_tokens(messages, count_words) == 3 + (3 + 1 + 3) + (3 + 1 + 1 + 1 + 1)
    assert count_chat_tokens(["not a message", {"role": "user", "content": "x"}], count_words) == 3 + 3 + 1 + 1
