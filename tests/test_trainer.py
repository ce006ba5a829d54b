"""The open fine-tuning path (qagen.trainer): LoRA on a tiny model built here, offline, on the CPU.

No weights can be downloaded, so the base model is a two-layer Llama made from a config and a
byte-level BPE tokenizer trained on the dataset's own text, saved to a folder that is passed as
--base-model exactly as a user's downloaded model would be.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

# Read once, when huggingface_hub is first imported: set before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("trl")

from qagen import cli  # noqa: E402
from qagen.errors import ConfigError, CorpusError, QagenError  # noqa: E402
from qagen.records import Message, Request  # noqa: E402
from qagen.finetune.trainer import ADAPTER_INFO, LocalModel, train  # noqa: E402
from qagen.settings import TrainSettings, resolve  # noqa: E402

# peft 0.21 reads a model property that transformers 5 deprecated: their matter, not qagen's.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

SPECIAL_TOKENS = ["<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _dataset_texts(out: Path) -> list[str]:
    texts = []
    for name in ("train.jsonl", "valid.jsonl"):
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            texts.extend(message["content"] for message in json.loads(line)["messages"])
    return texts


def _tiny_base_model(folder: Path, texts: list[str]) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|end|>", pad_token="<pad>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
        # Wider than the usual 0.02, so the tied output layer can express a peaked distribution and
        # an adapter on the inner layers has room to lower the loss in a few steps.
        initializer_range=0.2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    """A qagen out folder made offline from the sample corpus (read-only for the tests)."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert cli.main([str(CORPUS), "-o", str(out), "-q", "--model", "offline"]) == 0
    return out


@pytest.fixture(scope="module")
def base_model(run_out, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    _tiny_base_model(folder, _dataset_texts(run_out))
    return folder


@pytest.fixture(scope="module")
def trained(run_out, base_model, tmp_path_factory):
    """One short, fast-learning training run shared by the tests that read its results."""
    adapter_dir = tmp_path_factory.mktemp("adapter")
    lines: list[str] = []
    options = TrainSettings(
        out_dir=run_out,
        base_model=str(base_model),
        adapter_dir=adapter_dir,
        learning_rate=1e-2,
        batch_size=8,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        max_length=256,
        max_steps=30,
    )
    result = train(options, lines.append)
    return result, lines


def test_training_loss_goes_down(trained):
    result, _lines = trained
    assert result.steps == 30
    assert result.first_loss is not None and result.last_loss is not None
    # A random two-layer model starts near log(vocabulary) (about 6.2); the adapter must learn a lot of it.
    assert result.first_loss > 5.0
    assert result.last_loss < result.first_loss - 1.0, (result.first_loss, result.last_loss)
    # Not one lucky batch: the last few steps average well below the first few.
    losses = [json.loads(line).get("loss") for line in result.log_path.read_text(encoding="utf-8").splitlines()]
    losses = [loss for loss in losses if loss is not None]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses
    assert result.eval_loss is not None and result.eval_loss < result.first_loss


def test_training_writes_log_adapter_and_info(trained, base_model):
    result, lines = trained
    records = [json.loads(line) for line in result.log_path.read_text(encoding="utf-8").splitlines()]
    train_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in train_records] == list(range(1, 31))  # 30 steps: every one is logged
    assert train_records[0]["loss"] == result.first_loss and train_records[-1]["loss"] == result.last_loss
    assert any("eval_loss" in r for r in records)
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (result.adapter_dir / name).is_file(), name
    info = json.loads((result.adapter_dir / ADAPTER_INFO).read_text(encoding="utf-8"))
    assert info["base_model"] == str(base_model.resolve())
    assert info["steps"] == 30 and info["train_examples"] > 10
    # Progress reached the reporter: a start line, step lines with loss and ETA, validation, the end.
    assert lines[0] == f"loading base model {base_model}"
    assert lines[1].startswith(f"training a LoRA adapter for {base_model} on CPU: ")
    assert any(line.startswith("step 30/30  loss ") and " eta " in line for line in lines)
    assert any("validation loss" in line for line in lines)
    assert lines[-1] == f"adapter saved to {result.adapter_dir}"


def test_local_model_answers_deterministically(trained, run_out):
    result, _lines = trained
    # A question it was trained on: after 30 steps a two-layer model may end its reply at once on an
    # unseen one (it did when the sample corpus's chunks changed), which says nothing about LocalModel.
    first = json.loads((run_out / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    prompt = tuple(Message(m["role"], m["content"]) for m in first["messages"] if m["role"] != "assistant")
    request = Request(key="q1", messages=prompt, params={"max_tokens": 24})

    async def ask_twice():
        model = LocalModel(result.adapter_dir)  # finds the base model through qagen_adapter.json
        try:
            return model.name, await model.complete(request), await model.complete(request)
        finally:
            await model.aclose()

    name, one, two = asyncio.run(ask_twice())
    assert name.startswith("lora:")
    assert one == two
    assert one.text.strip()
    assert 0 < one.completion_tokens <= 24 and one.prompt_tokens > 10
    assert one.finish_reason in ("stop", "length")


def test_loss_is_on_the_reply_only(run_out, base_model, tmp_path):
    """Long varied questions, one fixed short reply: only a loss on the reply alone can fall near zero."""
    questions = [json.loads(line)["messages"][1]["content"] for line in (run_out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [{"messages": [{"role": "user", "content": " ".join(questions[i : i + 4])}, {"role": "assistant", "content": "I don't know."}]} for i in range(24)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    options = TrainSettings(out_dir=tmp_path, base_model=str(base_model), learning_rate=1e-2, batch_size=8, lora_r=8, lora_dropout=0.0, max_steps=15)
    result = train(options, lambda _line: None)
    assert result.eval_loss is None  # no valid.jsonl: no validation
    # Trained on the whole sequence, the same run ends near 3.7: the varied questions cannot be learnt this fast.
    assert result.first_loss > 5.0 and result.last_loss < 1.5, (result.first_loss, result.last_loss)


def test_missing_train_extra_is_one_sentence(monkeypatch, run_out, base_model):
    monkeypatch.setitem(sys.modules, "trl", None)  # `import trl` now raises ImportError
    with pytest.raises(QagenError) as caught:
        train(TrainSettings(out_dir=run_out, base_model=str(base_model), adapter_dir=run_out.parent / "never"), lambda _line: None)
    message = str(caught.value)
    assert message.startswith("the trl trainer needs the train extra: pip install 'qagen[train]' (trl is missing; ")
    assert "CPU build of torch first" in message and "\n" not in message
    assert not (run_out.parent / "never").exists()


def test_missing_out_dir_says_to_run_qagen_first(tmp_path, base_model):
    with pytest.raises(CorpusError, match=r"does not exist: run qagen FOLDER -o .*nowhere first\.$"):
        train(TrainSettings(out_dir=tmp_path / "nowhere", base_model=str(base_model)), lambda _line: None)


def test_empty_train_file_is_refused(tmp_path, base_model):
    (tmp_path / "train.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="has no examples to train on"):
        train(TrainSettings(out_dir=tmp_path, base_model=str(base_model)), lambda _line: None)


def test_completion_format_is_refused(tmp_path, base_model):
    (tmp_path / "train.jsonl").write_text('{"prompt": "Q?\\n\\n###\\n\\n", "completion": " A END"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="rerun qagen with --format chat"):
        train(TrainSettings(out_dir=tmp_path, base_model=str(base_model)), lambda _line: None)


@pytest.mark.parametrize("name", ["missing-owner/missing-model", "./no/such/folder"])
def test_unloadable_base_model_is_one_sentence(run_out, tmp_path, name):
    with pytest.raises(ConfigError) as caught:
        train(TrainSettings(out_dir=run_out, base_model=name, adapter_dir=tmp_path / "adapter"), lambda _line: None)
    message = str(caught.value)
    assert message.startswith(f"base model {name} is not a folder") or message.startswith(f"cannot load base model {name}")
    assert "local model folder" in message and "\n" not in message


def test_local_model_needs_a_base_model(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not name its base model"):
        LocalModel(tmp_path)
    with pytest.raises(ConfigError, match="holds no LoRA adapter"):
        LocalModel(tmp_path / "elsewhere", base_model="some/model")


def test_trainer_flags_map_to_settings(tmp_path):
    given = {"epochs": "1.5", "lora_r": "4", "max_steps": "7", "adapter_dir": str(tmp_path / "a"), "base_model": "some/model"}
    settings = resolve(TrainSettings, given, env={}, out_dir=tmp_path)
    assert (settings.epochs, settings.lora_r, settings.max_steps, settings.adapter_dir) == (1.5, 4, 7, tmp_path / "a")
    assert settings.learning_rate == TrainSettings.learning_rate  # not given: the default
    with pytest.raises(ConfigError, match="--batch-size must be at least 1"):
        resolve(TrainSettings, {"batch_size": "0", "base_model": "some/model"}, env={}, out_dir=tmp_path)
