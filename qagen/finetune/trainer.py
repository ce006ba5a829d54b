"""qagen's open fine-tuning path: a LoRA adapter trained on the user's own machine.

``train(options, say)`` fine-tunes a causal language model (a local folder or a Hugging
Face hub id) on a qagen out folder's ``train.jsonl`` / ``valid.jsonl`` with TRL's
``SFTTrainer`` and a PEFT LoRA adapter, and writes the adapter, its tokenizer, a training
log and ``qagen_adapter.json`` to the adapter folder. ``LocalModel`` serves that adapter
behind qagen's ``ChatModel`` interface, so ``qagen eval`` can ask it questions.

The heavy libraries (torch, transformers, trl, peft, datasets) are the optional ``train``
extra: they are imported inside functions, never when qagen itself is imported, and a
missing one is a single ``QagenError`` sentence.

What the loss is computed on: each chat example is split into a prompt (every message
before the last assistant message) and a completion (that assistant message), and TRL's
completion-only loss trains on the reply's tokens alone, for any chat template. (TRL's
``assistant_only_loss`` would need ``{% generation %}`` markers in the template, which most
models' templates lack.)
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace

from qagen.errors import ConfigError, CorpusError, ModelError, QagenError
from qagen.outfolder import write_atomic
from qagen.records import Completion, Request
from qagen.finetune.libraries import Say, check_base_model, describe_base, import_stack, library_output_to, load_model, load_tokenizer, precision
from qagen.settings import TrainSettings

TRAIN_FILE = "train.jsonl"
VALID_FILE = "valid.jsonl"
TRAINING_LOG = "training_log.jsonl"
ADAPTER_INFO = "qagen_adapter.json"


# About this many progress lines (and training log records) per run, whatever its length.
LOG_POINTS = 50
# About this many validation passes per run, when valid.jsonl has examples.
EVAL_POINTS = 5



@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path
    log_path: Path
    steps: int  # optimizer steps taken
    first_loss: float | None  # training loss at the first logged step
    last_loss: float | None  # training loss at the last logged step
    eval_loss: float | None  # validation loss after training; None without validation examples


# --------------------------------------------------------------------------- data


def _read_chat_examples(path: Path) -> list[dict]:
    """train/valid JSONL as TRL prompt/completion examples: the last assistant message is the completion."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise CorpusError(f"{path} line {number} is not JSON; rerun qagen to rewrite it.") from None
            examples.append(_chat_example(row, path, number))
    return examples


def _chat_example(row: object, path: Path, number: int) -> dict:
    if isinstance(row, dict) and "prompt" in row and "completion" in row and "messages" not in row:
        raise ConfigError(f"{path} is in the completion format; the trl trainer trains on chat examples: rerun qagen with --format chat.")
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        raise CorpusError(f"{path} line {number} is not a chat example ({{\"messages\": [{{\"role\", \"content\"}}, ...]}}); rerun qagen to rewrite it.")
    last_reply = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    if last_reply < 1:
        raise CorpusError(f"{path} line {number} has no assistant reply after a user message; rerun qagen to rewrite it.")
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return {"prompt": plain[:last_reply], "completion": [plain[last_reply]]}


def _load_examples(out_dir: Path) -> tuple[list[dict], list[dict]]:
    train_path = out_dir / TRAIN_FILE
    if not out_dir.is_dir() or not train_path.is_file():
        raise CorpusError(f"{train_path} does not exist: run qagen FOLDER -o {out_dir} first.")
    train_examples = _read_chat_examples(train_path)
    if not train_examples:
        raise CorpusError(f"{train_path} has no examples to train on: run qagen on more documents (or a lower --valid-fraction) first.")
    valid_path = out_dir / VALID_FILE
    valid_examples = _read_chat_examples(valid_path) if valid_path.is_file() else []
    return train_examples, valid_examples


# --------------------------------------------------------------------------- training


def _planned_steps(options: TrainSettings, train_count: int) -> int:
    if options.max_steps is not None:
        return options.max_steps
    return max(1, math.ceil(options.epochs * math.ceil(train_count / options.batch_size)))


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _number(value: object) -> object:
    """Log values as plain JSON numbers (a library may hand over tensors or numpy scalars)."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    try:
        number = float(value)  # type: ignore[arg-type]  # tensors and numpy scalars convert; others raise
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None  # JSON has no NaN; a diverged loss shows as null


def _progress_callback(stack: SimpleNamespace, log_path: Path, say: Say):
    """A TrainerCallback that appends each log to the training log and reports progress."""

    class QagenProgress(stack.transformers.TrainerCallback):  # type: ignore[name-defined]  # a class of the optional library, known only at run time
        def __init__(self) -> None:
            self.records: list[dict] = []
            self._started = time.monotonic()

        def on_train_begin(self, args, state, control, **kwargs):
            self._started = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs:
                return
            elapsed = time.monotonic() - self._started
            record = {"step": state.global_step, "epoch": _number(state.epoch)}
            record.update({key: _number(value) for key, value in logs.items()})
            record["elapsed_s"] = round(elapsed, 3)
            self.records.append(record)
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            say(self._line(record, state.max_steps, elapsed))

        @staticmethod
        def _line(record: dict, max_steps: int, elapsed: float) -> str:
            step = record["step"]
            where = f"step {step}/{max_steps}"
            if "eval_loss" in record:
                return f"{where}  validation loss {record['eval_loss']:.4f}"
            if "loss" in record:
                eta = elapsed / step * (max_steps - step) if step else 0.0
                return f"{where}  loss {record['loss']:.4f}  epoch {record['epoch'] or 0:.2f}  eta {_clock(eta)}"
            if "train_loss" in record:
                return f"{where}  done: mean training loss {record['train_loss']:.4f} in {_clock(record.get('train_runtime') or elapsed)}"
            return f"{where}  " + ", ".join(f"{key} {value}" for key, value in record.items() if key not in ("step", "epoch"))

    return QagenProgress()


def _sft_config(stack: SimpleNamespace, options: TrainSettings, adapter_dir: Path, planned: int, has_eval: bool, bf16: bool, fp16: bool):
    """SFTConfig for this run, built from the fields the installed TRL actually has."""
    on_gpu = stack.torch.cuda.is_available()
    eval_steps = max(1, math.ceil(planned / EVAL_POINTS))
    wanted = {
        "output_dir": str(adapter_dir),
        "num_train_epochs": options.epochs,
        "max_steps": options.max_steps if options.max_steps is not None else -1,
        "learning_rate": options.learning_rate,
        "per_device_train_batch_size": options.batch_size,
        "per_device_eval_batch_size": options.batch_size,
        "max_length": options.max_length,
        "completion_only_loss": True,  # loss on the assistant's reply only (see the module notes)
        "packing": False,
        "seed": options.seed,
        "data_seed": options.seed,
        "bf16": bf16,
        "fp16": fp16,
        # Recomputing activations saves GPU memory; on a CPU it only costs time.
        "gradient_checkpointing": on_gpu,
        "dataloader_pin_memory": on_gpu,
        "logging_strategy": "steps",
        "logging_steps": max(1, math.ceil(planned / LOG_POINTS)),
        "logging_first_step": True,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": eval_steps if has_eval else None,
        "save_strategy": "no",  # the adapter is saved once, at the end
        "report_to": "none",
        "disable_tqdm": True,
        "dataset_num_proc": None,
    }
    known = {f.name for f in fields(stack.trl.SFTConfig)}
    if "max_length" not in known and "max_seq_length" in known:  # TRL before the rename
        wanted["max_seq_length"] = wanted.pop("max_length")
    if "activation_checkpointing" in known:  # transformers 5 renamed it and warns about the old name
        wanted["activation_checkpointing"] = wanted.pop("gradient_checkpointing")
    return stack.trl.SFTConfig(**{key: value for key, value in wanted.items() if key in known})


def train(options: TrainSettings, say: Say) -> TrainResult:
    """Fine-tune a LoRA adapter on OUT_DIR's chat examples; progress goes to ``say``."""
    out_dir = Path(options.out_dir)
    train_examples, valid_examples = _load_examples(out_dir)
    check_base_model(options.base_model)
    stack = import_stack("training")
    adapter_dir = options.resolved_adapter_dir
    try:
        adapter_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create adapter folder {adapter_dir}: {exc.strerror or exc}.") from None
    log_path = adapter_dir / TRAINING_LOG
    log_path.unlink(missing_ok=True)  # a rerun starts a new log

    with library_output_to(stack, say):
        stack.transformers.set_seed(options.seed)
        say(f"loading base model {options.base_model}")
        tokenizer = load_tokenizer(stack, options.base_model, base_model=options.base_model)
        dtype, bf16, fp16 = precision(stack.torch)
        model = load_model(stack, options.base_model, dtype)
        planned = _planned_steps(options, len(train_examples))
        device = "GPU" if stack.torch.cuda.is_available() else "CPU"
        say(
            f"training a LoRA adapter for {options.base_model} on {device}: {len(train_examples)} train and "
            f"{len(valid_examples)} validation examples, {planned} steps"
        )
        lora = stack.peft.LoraConfig(
            r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=options.lora_dropout,
            target_modules="all-linear",  # every linear layer but the output head, whatever the architecture names them
            task_type="CAUSAL_LM",
        )
        progress = _progress_callback(stack, log_path, say)
        trainer = stack.trl.SFTTrainer(
            model=model,
            args=_sft_config(stack, options, adapter_dir, planned, bool(valid_examples), bf16, fp16),
            train_dataset=stack.datasets.Dataset.from_list(train_examples),
            eval_dataset=stack.datasets.Dataset.from_list(valid_examples) if valid_examples else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[progress],
        )
        # Progress goes through `say` alone: no tqdm bar, no printed log dictionaries.
        for console in (stack.transformers.PrinterCallback, stack.transformers.ProgressCallback):
            trainer.remove_callback(console)
        try:
            trainer.train()
        except stack.torch.cuda.OutOfMemoryError:
            raise QagenError("the GPU ran out of memory: lower --batch-size or --max-length, or use a smaller base model.") from None
        steps = trainer.state.global_step
        eval_loss = None
        if valid_examples:
            evaluated = [r for r in progress.records if "eval_loss" in r]
            if not evaluated or evaluated[-1]["step"] != steps:
                trainer.evaluate()
                evaluated = [r for r in progress.records if "eval_loss" in r]
            eval_loss = evaluated[-1]["eval_loss"] if evaluated else None
        trainer.save_model(str(adapter_dir))
        tokenizer.save_pretrained(str(adapter_dir))

    losses = [r["loss"] for r in progress.records if "loss" in r]
    info = {
        "base_model": describe_base(options.base_model),
        "trainer": "trl",
        "loss_on": "assistant reply (completion-only)",
        "train_examples": len(train_examples),
        "valid_examples": len(valid_examples),
        "steps": steps,
        "eval_loss": eval_loss,
        "options": {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(options).items()},
        "versions": {name: getattr(stack, name).__version__ for name in ("torch", "transformers", "trl", "peft")},
    }
    write_atomic(adapter_dir / ADAPTER_INFO, json.dumps(info, indent=2) + "\n")
    say(f"adapter saved to {adapter_dir}")
    return TrainResult(
        adapter_dir=adapter_dir,
        log_path=log_path,
        steps=steps,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        eval_loss=eval_loss,
    )


# --------------------------------------------------------------------------- the adapter as a ChatModel


def read_adapter_info(adapter_dir: Path) -> dict:
    path = Path(adapter_dir) / ADAPTER_INFO
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; train the adapter again or pass --base-model.") from None


class LocalModel:
    """A LoRA adapter trained by ``train``, answering chat requests with greedy (repeatable) decoding.

    Loading happens in the constructor (seconds on a small model, longer on a large one);
    requests run one at a time in a worker thread so the event loop stays free.
    ``max_new_tokens`` caps each reply unless the request's params give ``max_tokens``.
    """

    def __init__(self, adapter_dir: Path, base_model: str | None = None, max_new_tokens: int = 128) -> None:
        self.adapter_dir = Path(adapter_dir)
        if not (self.adapter_dir / "adapter_config.json").is_file():
            raise ConfigError(f"{self.adapter_dir} holds no LoRA adapter (adapter_config.json): run qagen finetune --trainer trl first.")
        base_model = base_model or read_adapter_info(self.adapter_dir).get("base_model")
        if not base_model:
            raise ConfigError(f"{self.adapter_dir} does not name its base model ({ADAPTER_INFO}): pass --base-model.")
        check_base_model(base_model)
        self.base_model = base_model
        self.max_new_tokens = max_new_tokens
        self.name = f"lora:{self.adapter_dir}"
        self._stack = import_stack("inference")
        self._lock = threading.Lock()
        with library_output_to(self._stack, lambda _message: None):
            self._load()

    def _load(self) -> None:
        stack = self._stack
        torch = stack.torch
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self._device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        self._tokenizer = load_tokenizer(stack, str(self.adapter_dir), base_model=self.base_model)
        base = load_model(stack, self.base_model, dtype)
        try:
            model = stack.peft.PeftModel.from_pretrained(base, str(self.adapter_dir))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot apply the adapter in {self.adapter_dir} to {self.base_model} ({str(exc).splitlines()[0][:200]}): was it trained on that base model?") from None
        # Folding the LoRA weights into the base makes generation as fast as the plain model.
        self._model = model.merge_and_unload().to(self._device).eval()
        pad = self._tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self._tokenizer.eos_token_id

    async def complete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: Request) -> Completion:
        torch = self._stack.torch
        limit = int(request.params.get("max_tokens") or self.max_new_tokens)
        messages = [message.as_dict() for message in request.messages]
        with self._lock:
            prompt = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            # The template already wrote any begin-of-text token it wants.
            inputs = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self._device)
            generation = self._stack.transformers.GenerationConfig(
                do_sample=False, max_new_tokens=limit, eos_token_id=self._tokenizer.eos_token_id, pad_token_id=self._pad_id
            )
            with torch.inference_mode():
                # Only these two: some tokenizers add token_type_ids, which causal models refuse.
                output = self._model.generate(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], generation_config=generation
                )
        prompt_tokens = inputs["input_ids"].shape[1]
        new_tokens = output[0, prompt_tokens:].tolist()
        ended = bool(new_tokens) and new_tokens[-1] == self._tokenizer.eos_token_id
        text = self._tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        return Completion(
            text=text,
            finish_reason="length" if len(new_tokens) >= limit and not ended else "stop",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new_tokens),
        )

    async def aclose(self) -> None:
        self._model = None
        self._tokenizer = None
