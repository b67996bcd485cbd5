"""Texts for the embedding benchmarks: generated short sentences, hard cases, LoCoMo turns."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

_SUBJECTS = [
    "My sister",
    "The new manager",
    "Our neighbour",
    "A friend from college",
    "The doctor",
    "My grandfather",
    "The team",
    "Caroline",
    "Melanie",
    "The landlord",
    "Her brother",
]
_VERBS = [
    "moved to",
    "talked about",
    "is planning a trip to",
    "started volunteering at",
    "complained about",
    "took photos of",
    "wrote a long letter about",
    "finally visited",
    "is saving money for",
    "read an article about",
]
_OBJECTS = [
    "the old bakery on Main Street",
    "a pottery class downtown",
    "the mountains in Colorado",
    "her first marathon next spring",
    "the community garden",
    "a startup that makes solar panels",
    "the jazz festival last weekend",
    "an adoption agency",
    "the noisy construction next door",
    "a small cabin near the lake",
]
_TAILS = [
    "",
    " because it reminded them of home",
    " after a very long week at work",
    " with two of their closest friends",
    ", which surprised everyone",
    " despite the bad weather",
]


def short_sentences(count: int, seed: int = 7) -> list[str]:
    """``count`` sentences of roughly 8 to 20 words, like chat messages or extracted memories."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_TAILS)}."
        for _ in range(count)
    ]


def agreement_texts(quick: bool) -> list[str]:
    """Short, empty, non-ASCII and over-long texts: everything the encoder must get right."""
    texts = short_sentences(40 if quick else 200, seed=11)
    texts += [
        "",
        "The cat sits on the mat",
        "Café crème, naïve façade — 東京で寿司を食べました。 Привет, как дела? 🙂",
        "ALL CAPS AND PUNCTUATION!!! ??? ... ---",
        " ".join(short_sentences(60, seed=3)),  # far past 256 tokens: truncated
    ]
    return texts


# LoCoMo (CC BY-NC 4.0) is read where it lies, beside the repository, and never copied into it.
_REPO = Path(__file__).resolve().parent.parent


def locomo_file() -> Path:
    folder = os.environ.get("REVERIE_LOCOMO_DIR") or _REPO.parent / "shared" / "data" / "locomo"
    return Path(folder) / "locomo10.json"


def locomo_texts() -> tuple[list[str], list[str]] | None:
    """Every LoCoMo dialogue turn (``Speaker: text [shares caption]``) and every question, in
    file order; None when the data is not there."""
    path = locomo_file()
    if not path.is_file():
        return None
    turns: list[str] = []
    questions: list[str] = []
    for sample in json.loads(path.read_text(encoding="utf-8")):
        conversation = sample["conversation"]
        sessions = sorted(
            (int(key.split("_")[1]), key)
            for key in conversation
            if re.fullmatch(r"session_\d+", key)
        )
        for _, key in sessions:
            for turn in conversation[key]:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares {turn['blip_caption']}]"
                turns.append(text)
        questions += [qa["question"] for qa in sample["qa"]]
    return turns, questions


def golden_texts() -> list[str]:
    """The texts of ``tests/embeddings/golden_minilm.json``: varied on purpose, none from LoCoMo."""
    return [
        "",
        " ",
        "\n\t ",
        "ok",
        "Hi",
        "The cat sits on the mat",
        "A cat is sitting on a mat.",
        "Stock markets fell sharply on Tuesday after the rate decision.",
        "User likes dogs. Their dog's name is Fido.",
        "What pet does she have?",
        "When did Maya move to Lisbon, and who helped her find the flat?",
        "Maya: I finally signed up for the pottery class downtown! My first bowl was a disaster "
        "but the teacher said that is how everyone starts. [shares a photo of a lopsided bowl]",
        "Jonas: We drove up to the lake cabin last weekend with the kids and the dog. It rained "
        "the whole time, so we played cards and ate far too much pancake.",
        "User prefers vegetarian restaurants, is allergic to peanuts, and works night shifts.",
        "ALL CAPS AND PUNCTUATION!!! ??? ... --- ***",
        "Café crème, naïve façade, jalapeño, Ångström, Straße",
        "東京で寿司を食べました。とても美味しかったです。",
        "Привет, как дела? Я переехал в Берлин в прошлом году.",
        "مرحبا، كيف حالك اليوم؟",
        "Γεια σου κόσμε",
        "🙂🙂🙂 🎉 🐶❤️",
        "naïve ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and ligatures: ﬁnance ﬂow",
        "def embed(texts: list[str]) -> np.ndarray:\n    return model.encode(texts)",
        "SELECT id, content FROM memories WHERE namespace = 'alice' ORDER BY updated_at DESC;",
        '{"kind": "Memory", "content": {"content": "User likes dogs"}}',
        "https://example.com/path?query=1&lang=en#section-2",
        "Call me at +1 (555) 010-2368 or mail jane.doe@example.org before 9:30 pm.",
        "3.14159 2.71828 1.41421 1e-12 0xDEADBEEF 42",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "a " * 300,
        "word " * 700,
        " ".join(short_sentences(40, seed=21)),
        " ".join(f"token{i}" for i in range(400)),
        "She said: \"Don't forget the keys\" — and then, quietly, 'or the umbrella'.",
        "I don't eat meat anymore; I stopped in March after watching a documentary.",
        "The meeting moved from Thursday 3 pm to Friday 10 am in room B-204.",
        "memory: user_prefers=dark_mode; timezone=Europe/Lisbon; language=pt-PT",
        "Remember that Alice's birthday is on the 14th and she loves orchids.",
        "tl;dr: ship it",
        "¿Dónde está la biblioteca? ¡Muy lejos!",
    ]
