"""LoCoMo as the retrieval benchmark reads it: sessions as conversations, questions, evidence.

The data is read from ``$REVERIE_LOCOMO_DIR`` or ``<repo>/../shared/data/locomo`` and never
copied (CC BY-NC 4.0). Each session of a LoCoMo conversation is one chat, stored as one episode:
its turns with their speaker's name and the session's date, as ``reverie ingest`` would store
a chat export. Conversations 0-4 are the tuning half (every default was chosen there);
conversations 5-9 are held out and only reported.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reverie.cli.conversation import Message, Role

REPO = Path(__file__).resolve().parent.parent
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
TUNING = range(0, 5)
HELD_OUT = range(5, 10)


def locomo_dir() -> Path:
    return Path(os.environ.get("REVERIE_LOCOMO_DIR") or REPO.parent / "shared" / "data" / "locomo")


@dataclass
class Question:
    text: str
    category: int
    evidence: set[str]  # dia ids
    audited: set[str] | None = None  # the audit's corrected evidence, where it lists the question

    def sessions(self, evidence: set[str]) -> set[int]:
        return {session_of(d) for d in evidence}


@dataclass
class Conversation:
    index: int
    sample_id: str
    sessions: list[tuple[int, list[Message], list[str]]]  # (number, messages, their dia ids)
    questions: list[Question] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return sum(len(messages) for _, messages, _ in self.sessions)


def session_of(dia_id: str) -> int:
    return int(dia_id[1:].split(":")[0])


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%I:%M %p on %d %B, %Y").replace(tzinfo=timezone.utc)


def _evidence(entries: list[Any], known: set[str]) -> set[str]:
    """Dia ids of an evidence list (some entries hold several, or malformed ids: dropped)."""
    found = set()
    for entry in entries:
        for part in re.split(r"[\s;]+", str(entry)):
            if part in known:
                found.add(part)
    return found


def load(quick: bool) -> list[Conversation]:
    """Every conversation (in quick mode one of each half), questions of categories 1-4 with
    evidence, audit corrections attached."""
    samples: list[dict[str, Any]] = json.loads((locomo_dir() / "locomo10.json").read_text())
    audit_path = locomo_dir() / "locomo10_audit_errors.json"
    audit = json.loads(audit_path.read_text()) if audit_path.exists() else []
    corrected = {
        e["question_id"]: e.get("correct_evidence") or e.get("cited_evidence") or [] for e in audit
    }
    chosen = [0, 5] if quick else list(range(len(samples)))
    conversations = []
    for index in chosen:
        sample = samples[index]
        conv = sample["conversation"]
        speakers = [conv["speaker_a"], conv["speaker_b"]]
        numbers = sorted(int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k))
        sessions = []
        for number in numbers:
            when = _when(conv[f"session_{number}_date_time"]).isoformat()
            messages, ids = [], []
            for turn in conv[f"session_{number}"]:
                text = turn["text"]
                if turn.get("blip_caption"):
                    text += f" [shares {turn['blip_caption']}]"
                role: Role = "user" if turn["speaker"] == speakers[0] else "assistant"
                messages.append(
                    Message(role=role, content=text, name=turn["speaker"], created_at=when)
                )
                ids.append(turn["dia_id"])
            sessions.append((number, messages, ids))
        known = {d for _, _, ids in sessions for d in ids}
        found = Conversation(index, sample["sample_id"], sessions)
        for n, qa in enumerate(sample["qa"]):
            category = int(qa["category"])
            evidence = _evidence(qa.get("evidence", []), known)
            if category not in CATEGORIES or not evidence:
                continue
            fixed = corrected.get(f"locomo_{index}_qa{n}")
            audited = _evidence(fixed, known) if fixed is not None else None
            found.questions.append(Question(qa["question"], category, evidence, audited))
        conversations.append(found)
    return conversations
