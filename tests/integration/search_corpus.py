"""A hand-written search corpus with known answers (tests/integration/test_search.py).

Twenty notes on distinct topics. Each has an exact phrase (the lexical query; a decoy note holds
the same words, more often, but never as that phrase) and a paraphrase written by hand that
shares no word with the note (the semantic query). Around them, generated artifacts of mixed
kinds with labels, tags, scope and metrics for the structured filters.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FILLER_COUNT", "NOTES", "FillerSpec", "Note", "content_words", "filler_specs"]


@dataclass(frozen=True)
class Note:
    """A target document, its exact phrase and its paraphrase."""

    text: str
    phrase: str
    paraphrase: str


NOTES: list[Note] = [
    Note(
        "Knead the sourdough dough for ten minutes, then let it rise overnight before baking "
        "in a hot oven.",
        "let it rise overnight",
        "how long should a yeast loaf be left to proof",
    ),
    Note(
        "Photovoltaic panels on the roof convert sunlight into electricity for the household.",
        "convert sunlight into electricity",
        "home energy from solar cells",
    ),
    Note(
        "Reward your puppy with a treat every time it sits on command.",
        "reward your puppy with a treat",
        "teaching a young canine obedience using snacks",
    ),
    Note(
        "Share prices plunged sharply as investors panicked during the financial crisis.",
        "share prices plunged sharply",
        "equities collapsed when traders feared a recession",
    ),
    Note(
        "Regular aerobic exercise strengthens the heart and lowers blood pressure.",
        "strengthens the heart",
        "cardio workouts improve cardiovascular fitness and reduce hypertension",
    ),
    Note(
        "Molten lava poured down the slopes after the volcano erupted at dawn.",
        "molten lava poured down",
        "magma streamed from a mountain crater at sunrise",
    ),
    Note(
        "Grind the roasted beans finely and pour hot water slowly through the filter.",
        "grind the roasted beans finely",
        "making a good cup of java with a drip machine",
    ),
    Note(
        "Loggers are clearing the tropical rainforest, destroying habitats of countless species.",
        "clearing the tropical rainforest",
        "jungle trees being cut down threatens wildlife",
    ),
    Note(
        "The grandmaster sacrificed her queen to deliver checkmate in three moves.",
        "sacrificed her queen",
        "a champion gave up the strongest piece to win at chess quickly",
    ),
    Note(
        "The rover collected rock samples from the red planet's dusty surface.",
        "collected rock samples",
        "a robotic vehicle gathering stones on Mars",
    ),
    Note(
        "Adults need seven to nine hours of sleep each night to stay healthy.",
        "seven to nine hours of sleep",
        "how much rest a grown person requires at bedtime",
    ),
    Note(
        "She tuned the strings of her acoustic guitar before the concert.",
        "tuned the strings",
        "getting a folk instrument ready to play on stage",
    ),
    Note(
        "Vaccination trains the immune system to recognise and fight viruses.",
        "trains the immune system",
        "inoculation teaches the body's defenses to combat infections",
    ),
    Note(
        "The gravitational pull of the moon causes the tides to rise and fall.",
        "gravitational pull of the moon",
        "why sea levels change twice daily because of lunar attraction",
    ),
    Note(
        "Use a long passphrase and enable two-factor authentication to protect your account.",
        "enable two-factor authentication",
        "keeping logins safe from hackers with extra verification codes",
    ),
    Note(
        "Water the tomato plants at the base and stake them as they grow taller.",
        "stake them as they grow taller",
        "caring for vegetable seedlings in a backyard plot",
    ),
    Note(
        "Glaciers are melting faster because global temperatures keep increasing.",
        "glaciers are melting faster",
        "ice sheets shrinking due to a warming planet",
    ),
    Note(
        "Battery powered vehicles produce no tailpipe emissions and are cheap to charge.",
        "produce no tailpipe emissions",
        "EVs are cleaner for air quality and inexpensive to run",
    ),
    Note(
        "The striker scored a penalty in the final minute to win the cup.",
        "scored a penalty in the final minute",
        "a last-second goal from the spot decided the championship match",
    ),
    Note(
        "Stone walls and a deep moat defended the castle against invading armies.",
        "deep moat defended the castle",
        "fortifications protecting a fortress from attackers in medieval times",
    ),
]

_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an the and or of to in on at for from with by as is are be being it its your her "
        "them they their how why what when much each every after before then into no up down",
    )
)


def content_words(text: str) -> set[str]:
    """The lower-cased words of ``text`` minus a few function words."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def decoy(note: Note) -> str:
    """The phrase's words, reversed and repeated: more matches, never the phrase itself."""
    words = note.phrase.split()
    return " ".join([" ".join(reversed(words))] * 3) + "."


@dataclass(frozen=True)
class FillerSpec:
    """One generated artifact and what the filters should say about it."""

    index: int
    name: str
    kind: str
    content: bytes
    content_type: str
    labels: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None


FILLER_COUNT = 160
KINDS = ("model", "dataset", "report", "config", "image")
TEAMS = ("vision", "nlp", "infra")
TAGS = ("weekly", "draft", "final", "baseline")
RUNS = ("run-a", "run-b", "run-c")


def filler_specs(seed: int = 6) -> list[FillerSpec]:
    """``FILLER_COUNT`` artifacts of mixed kinds, deterministic for a seed.

    Models carry ``accuracy`` and ``loss``; two share the top accuracy and two the lowest loss
    (so ``best`` must break ties), one has a non-numeric accuracy (ignored by ``best``).
    """
    rng = random.Random(seed)
    specs = []
    for index in range(FILLER_COUNT):
        kind = KINDS[index % len(KINDS)]
        labels: dict[str, Any] = {"team": rng.choice(TEAMS), "stage": rng.choice(("dev", "prod"))}
        if index % 7 == 0:
            labels["domain"] = "finance"
        tags = sorted(rng.sample(TAGS, rng.randint(0, 2)))
        metrics: dict[str, Any] = {}
        if kind == "model":
            metrics = {
                "accuracy": round(rng.uniform(0.5, 0.95), 4),
                "loss": round(rng.uniform(0.2, 2.0), 4),
            }
        if kind == "report":
            content = f"Status summary {index} for the {labels['team']} group.".encode()
            content_type = "text/markdown"
        elif kind == "config":
            content = f'{{"batch_size": {8 * (index % 5 + 1)}, "seed": {index}}}'.encode()
            content_type = "application/json"
        else:
            content = rng.randbytes(64)
            content_type = "application/octet-stream"
        specs.append(
            FillerSpec(
                index=index,
                name=f"{kind}-{index:03d}.bin"
                if kind in ("model", "image")
                else f"{kind}-{index:03d}",
                kind=kind,
                content=content,
                content_type=content_type,
                labels=labels,
                tags=tags,
                metrics=metrics,
                run_id=RUNS[index % len(RUNS)],
            )
        )
    # Ties and a bad value for best(): indexes of model artifacts (index % 5 == 0).
    _set_metric(specs, 10, accuracy=0.99)
    _set_metric(specs, 60, accuracy=0.99)  # same top: the earlier one (10) must win
    _set_metric(specs, 25, loss=0.05)
    _set_metric(specs, 85, loss=0.05)  # same lowest: 25 must win
    _set_metric(specs, 95, accuracy="n/a")  # not a number: never the best
    return specs


def _set_metric(specs: list[FillerSpec], index: int, **values: Any) -> None:
    specs[index].metrics.update(values)
