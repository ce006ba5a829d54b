"""The answers of an evaluation by request key: from the journal when resuming, else from the model.

With a resume folder, every answer is appended to ``FOLDER/.qagen/journal.jsonl`` as it
arrives. A request's key holds the digest of the model's identity
(``qagen.evaluate.identity``), so an answer is reused only from the very model that gave it:
a model retrained in place or served anew under the same name is asked again.
``FOLDER/.qagen/models.json`` notes, per model name, the identity its latest answers came
from, so that a change is said in one line instead of going unnoticed. Earlier answers are
never deleted: they stay in the journal, unused. ``fresh`` asks everything again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from qagen.evaluate.identity import ModelIdentity
from qagen.llm.asker import Failure, ask_all
from qagen.llm.model import ChatModel
from qagen.outfolder import OutFolder, write_atomic
from qagen.outfolder.journal import Journal, JournalEntry
from qagen.outfolder.lock import FolderLock
from qagen.records import Completion, Request

IDENTITIES = "models.json"


class Answers:
    """Answers by request key, from the journal when resuming, else from the model."""

    def __init__(
        self,
        resume_dir: Path | None,
        *,
        fresh: bool = False,
        concurrency: int = 8,
        warn: Callable[[str], None] = lambda sentence: None,
    ) -> None:
        self.resume_dir = resume_dir
        self.fresh = fresh
        self.earlier: dict[str, Completion] = {}  # what the journal held when the evaluation started
        self._journal: Journal | None = None
        self._identities: dict[str, dict] = {}
        self._unsaved: dict[str, dict] = {}  # identities noted once their first answer is on disk
        self._lock: FolderLock | None = None
        if resume_dir is not None:
            folder = OutFolder(resume_dir)
            self._lock = FolderLock(resume_dir).acquire()  # one evaluation at a time writes in the folder
            try:
                self.earlier = {key: entry.completion for key, entry in folder.read_journal(warn).items()}
                self._journal = folder.open_journal(in_flight=concurrency)
            except BaseException:
                self._lock.release()
                raise
            self._journal_path = folder.journal_path
            self._identities_path = folder.state / IDENTITIES
            self._identities = self._read_identities()
        self.known: dict[str, Completion] = {} if fresh else dict(self.earlier)

    def _read_identities(self) -> dict[str, dict]:
        try:
            data = json.loads(self._identities_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            data = None
        # Without it, a change of model cannot be said, but keys still keep answers apart.
        return data if isinstance(data, dict) else {}

    def tag_for(
        self,
        identity: ModelIdentity,
        say: Callable[[str], None],
        *,
        what: str = "answers",
        keys_under: Callable[[str], Sequence[str]] | None = None,
    ) -> str:
        """The tag for the keys of ``identity``'s requests, after saying in one line why earlier ones are not reused.

        ``keys_under(tag)`` gives this evaluation's keys under another tag ("" for the keys of
        the time before identities), to count the earlier answers left unused.
        """
        tag = identity.digest
        if self._journal is None:
            return tag
        before = self._identities.get(identity.name)
        kept = f"they stay in {self._journal_path}"
        if self.fresh:
            say(f"--fresh: asking {identity.name} everything again, not reusing earlier {what} ({kept})")
        elif isinstance(before, dict) and before.get("digest") != tag:
            count = self._count(keys_under, str(before.get("digest")))
            if count is None or count:
                earlier = f"the {count} earlier {what}" if count else f"the earlier {what}"
                changes = identity.changes_since(before.get("facts") or {})
                say(f"{identity.name} is not the model that gave {earlier} in {self.resume_dir} ({changes}): not reused; {kept}")
        elif before is None:
            count = self._count(keys_under, "")
            if count:
                say(
                    f"the {count} {what} of {identity.name} in {self.resume_dir} were saved before qagen noted which "
                    f"model gave them: not reused; {kept}"
                )
        record = {"digest": tag, "facts": dict(identity.facts)}
        if before != record:
            self._unsaved[identity.name] = record
        return tag

    def _count(self, keys_under: Callable[[str], Sequence[str]] | None, tag: str) -> int | None:
        if keys_under is None:
            return None
        return sum(key in self.earlier for key in set(keys_under(tag)))

    async def ask(
        self,
        requests: Sequence[Request],
        model: ChatModel,
        *,
        concurrency: int,
        on_answer: Callable[[], None] = lambda: None,
    ) -> tuple[dict[str, Completion], list[Failure]]:
        unique = list({r.key: r for r in requests}.values())
        pending = [r for r in unique if r.key not in self.known]

        def answered(request: Request, completion: Completion) -> None:
            if self._journal is not None:
                self._journal.append(JournalEntry(request.key, completion))  # OutputError: not kept, stop asking
                self._save_identities()
            self.known[request.key] = completion
            on_answer()
            if self._journal is not None:
                self._journal.check_room()

        failures = await ask_all(pending, model, concurrency=concurrency, on_answer=answered)
        return {r.key: self.known[r.key] for r in unique if r.key in self.known}, failures

    def _save_identities(self) -> None:
        # Noted with the first answer, so the note never names a model that gave none.
        if self._unsaved:
            self._identities.update(self._unsaved)
            self._unsaved.clear()
            write_atomic(self._identities_path, json.dumps(self._identities, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
        if self._lock is not None:
            self._lock.release()
