"""Unit tests where the logic is dense: tokens, chunking, templates, progress, Retry-After."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from qagen.documents.chunking import split_documents
from qagen.errors import TemplateError
from qagen.llm.client import retry_after_seconds
from qagen.cli.progress import TerminalProgress
from qagen.llm.templates import builtin_template_path, load_template
from qagen.records import Document
from qagen.documents.tokens import counter_for, encoding_name_for

SAMPLE = "The Verrano Lighthouse was built in 1887. Ünïcödé ✓"


def test_token_counts_are_exact_for_openai_models() -> None:
    # Reference counts from tiktoken's own encodings for the same text.
    assert counter_for("gpt-4o-mini")(SAMPLE) == 16
    assert counter_for("gpt-4")(SAMPLE) == 21
    assert counter_for("gpt-4o").exact and counter_for("gpt-3.5-turbo").exact


@pytest.mark.parametrize("model, encoding", [
    ("gpt-4o-mini", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o3-mini", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-4-turbo", "cl100k_base"),
    ("gpt-3.5-turbo-0125", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("ft:gpt-4.1-mini-2025-04-14:acme::abc123", "o200k_base"),  # not gpt-4's cl100k_base
    ("ft:gpt-3.5-turbo:acme::x", "cl100k_base"),
])
def test_model_to_encoding(model: str, encoding: str) -> None:
    assert encoding_name_for(model) == (encoding, True)


def test_other_models_are_an_estimate_and_say_so() -> None:
    counter = counter_for("qwen2.5:7b")
    assert not counter.exact and "estimate" in counter.describe()
    assert counter("special <|endoftext|> text") > 0  # special-token text counts as plain text


def _long_document() -> Document:
    paragraphs = [f"Paragraph {i}. The ferry {i} leaves Port Essary at {i % 12 + 1} o'clock and returns by noon." for i in range(200)]
    return Document(source="long.md", text="\n\n".join(paragraphs), encoding="utf-8")


def test_chunks_respect_the_token_budget_and_ids_are_stable() -> None:
    count = counter_for("gpt-4o-mini")
    first = split_documents([_long_document()], count, chunk_tokens=200, overlap_tokens=50)
    second = split_documents([_long_document()], count, chunk_tokens=200, overlap_tokens=50)
    assert len(first) > 5
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert all(c.tokens <= 200 and c.tokens == count(c.text) for c in first)
    assert [c.index for c in first] == list(range(len(first)))
    # neighbouring chunks share their boundary paragraph (the overlap)
    assert all(a.text.split("\n\n")[-1] in b.text.split("\n\n")[:3] for a, b in zip(first, first[1:]))
    no_overlap = split_documents([_long_document()], count, chunk_tokens=200, overlap_tokens=0)
    assert not any(a.text.split("\n\n")[-1] in b.text for a, b in zip(no_overlap, no_overlap[1:]))


def test_chunk_ids_depend_on_file_and_text_only() -> None:
    count = counter_for("gpt-4o-mini")
    a = split_documents([Document("a.md", "Same text here.", "utf-8")], count, chunk_tokens=800, overlap_tokens=80)
    b = split_documents([Document("b.md", "Same text here.", "utf-8")], count, chunk_tokens=800, overlap_tokens=80)
    moved = split_documents([Document("a.md", "Same text here.", "utf-8"), Document("0.md", "Other.", "utf-8")], count, chunk_tokens=800, overlap_tokens=80)
    assert a[0].id != b[0].id
    assert moved[0].id == a[0].id


def test_builtin_template_renders_document_text_literally() -> None:
    template = load_template(builtin_template_path("qa"), required=frozenset({"info", "n"}))
    text = "Use {{ secret }} and {% raw %} here, {# not a comment #}."
    messages = template.render(info=text, n=4, source="x.md", section="", page="")
    assert text in messages[-1].content and "Write 4 question" in messages[-1].content
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert template.params["max_tokens"] > 0


@pytest.mark.parametrize("content, words", [
    ("{{ info.__class__.__mro__[1].__subclasses__() }} {{ n }}", "unsafe"),  # the sandbox refuses
    ("{{ info }} {{ n }} {{ nope }}", "nope"),  # strict about undefined variables
    ("{% for %} {{ info }} {{ n }}", "syntax"),
])
def test_template_problems_are_template_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": content}]}))
    with pytest.raises(TemplateError) as caught:
        template = load_template(path, required=frozenset({"info", "n"}))
        template.render(info="text", n=2, source="s")
    assert "t.json" in str(caught.value) and words in str(caught.value).lower()


def test_template_with_unknown_param_or_role(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"params": {"temprature": 0.2}, "messages": [{"role": "user", "content": "{{ info }}{{ n }}"}]}))
    with pytest.raises(TemplateError, match="temprature"):
        load_template(path)
    path.write_text(json.dumps({"messages": [{"role": "robot", "content": "{{ info }}"}]}))
    with pytest.raises(TemplateError, match="role"):
        load_template(path)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_progress_line_and_quiet_mode() -> None:
    stream = io.StringIO()
    progress = TerminalProgress(stream, draw_bar=True, min_interval=0)
    progress.start(total=4, already_done=1)
    progress.chunk_done(pairs=5, tokens_in=1200, tokens_out=300)
    progress.retry("HTTP 429", 1.0)
    line = progress.status_line()
    assert "2/4 chunks" in line and "5 pairs" in line and "1,200 tok in" in line and "ETA" in line and "1 retries" in line
    progress.note("hello")
    progress.finish()
    assert "hello\n" in stream.getvalue() and stream.getvalue().endswith("\n")

    silent = io.StringIO()
    quiet = TerminalProgress(silent, draw_bar=False, show_notes=False)
    quiet.start(total=2, already_done=0)
    quiet.chunk_done(1, 1, 1)
    quiet.note("hidden")
    quiet.finish()
    assert silent.getvalue() == ""


def test_settings_precedence_flags_env_config_defaults(tmp_path: Path) -> None:
    from qagen.settings import Settings, resolve
    from qagen.errors import ConfigError

    config = tmp_path / "qagen.toml"
    config.write_text('concurrency = 3\npairs_per_chunk = 7\nseed = 11\nrefusal = ["No idea."]\n')
    env = {"QAGEN_CONCURRENCY": "5", "QAGEN_SEED": "12", "OPENAI_API_KEY": "sk-test-000"}
    settings = resolve(Settings, {"seed": 13, "pairs_per_chunk": None}, env=env, config_file=config, corpus=Path("docs"))
    assert settings.seed == 13  # flag wins
    assert settings.concurrency == 5  # environment beats the config file
    assert settings.pairs_per_chunk == 7  # config file beats the default
    assert settings.refusals == ("No idea.",)
    assert settings.model == "gpt-4o-mini"  # a key and no model: the default OpenAI model
    assert "sk-test-000" not in repr(settings)

    config.write_text("concurency = 3\n")
    with pytest.raises(ConfigError, match="concurency"):
        resolve(Settings, {}, env={}, config_file=config, corpus=Path("docs"))
    with pytest.raises(ConfigError, match="QAGEN_CONCURRENCY"):
        resolve(Settings, {}, env={"QAGEN_CONCURRENCY": "many"}, corpus=Path("docs"))
    with pytest.raises(ConfigError, match="--model is required"):
        resolve(Settings, {"base_url": "http://localhost:11434/v1"}, env={}, corpus=Path("docs"))
    offline = resolve(Settings, {}, env={}, corpus=Path("docs"))
    assert offline.offline and offline.model_was_defaulted


def test_every_default_has_its_options_type() -> None:
    # A float option defaulting to an int read back as 50 from the defaults but 50.0 from a saved run,
    # so `qagen apply` wrote a different dataset card than the run it repeated.
    from qagen.options import EVAL_OPTIONS, FINETUNE_OPTIONS, GENERATE_OPTIONS, TRAIN_OPTIONS, VALIDATE_OPTIONS

    for table in (GENERATE_OPTIONS, VALIDATE_OPTIONS, EVAL_OPTIONS, FINETUNE_OPTIONS, TRAIN_OPTIONS):
        for option in table.values():
            if option.default is not None and option.kind in (int, float, str, bool):
                assert type(option.default) is option.kind, f"{option.name}: {option.default!r} is not a {option.kind.__name__}"
