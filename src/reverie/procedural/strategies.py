"""The three ways of improving one prompt (LangMem's optimizer kinds), as pipelines.

- ``prompt_memory``: one call that returns the new prompt (or none).
- ``metaprompt``: a reflection loop (think, critique) that ends in the new prompt.
- ``gradient``: a reflection loop that ends in a diagnosis and recommendations; only if it
  says a change is warranted, a second call rewrites the prompt accordingly.

Every new prompt keeps the original's template variables (one correction is asked for if it
drops one); an empty answer means "keep the prompt as it is".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from reverie.core.effects import Pipeline
from reverie.core.errors import ConfigurationError, ModelOutputError
from reverie.procedural import prompts
from reverie.procedural.reflection import Answer, answer_once, correct, reflect
from reverie.procedural.trajectories import PromptToImprove
from reverie.procedural.variables import MissingVariables, keep_template

Kind = Literal["gradient", "metaprompt", "prompt_memory"]
KINDS: tuple[Kind, ...] = ("gradient", "metaprompt", "prompt_memory")
DEFAULT_MAX_REFLECTION_STEPS = 5
DEFAULT_MIN_REFLECTION_STEPS = 1

_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "gradient": frozenset(
        {"gradient_prompt", "metaprompt", "max_reflection_steps", "min_reflection_steps"}
    ),
    "metaprompt": frozenset({"metaprompt", "max_reflection_steps", "min_reflection_steps"}),
    "prompt_memory": frozenset(),
}


def _template(value: Any, argument: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"config[{argument!r}] must be a non-empty prompt template.")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        raise ConfigurationError(
            f"config[{argument!r}] is not a valid template ({exc}); write literal braces as "
            "'{{' and '}}'."
        ) from exc
    unknown = fields - allowed
    if unknown:
        raise ConfigurationError(
            f"config[{argument!r}] uses {sorted(unknown)}; it may only use {sorted(allowed)}."
        )
    return value


@dataclass(frozen=True)
class Strategy:
    """One optimizer kind with its validated settings."""

    kind: Kind
    model: BaseChatModel
    diagnosis_prompt: str = prompts.GRADIENT_PROMPT
    rewrite_prompt: str = prompts.METAPROMPT
    max_steps: int = DEFAULT_MAX_REFLECTION_STEPS
    min_steps: int = DEFAULT_MIN_REFLECTION_STEPS

    @classmethod
    def create(cls, kind: Any, model: BaseChatModel, config: Any) -> Strategy:
        if kind not in KINDS:
            raise ConfigurationError(f"kind must be one of {list(KINDS)}, got {kind!r}.")
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"config must be a dict, got {type(config).__name__}.")
        unknown = set(config) - _CONFIG_KEYS[kind]
        if unknown:
            allowed = sorted(_CONFIG_KEYS[kind]) or "no settings"
            raise ConfigurationError(
                f"config has {sorted(unknown)}, which kind={kind!r} does not use; it takes {allowed}."
            )
        max_steps = config.get("max_reflection_steps", DEFAULT_MAX_REFLECTION_STEPS)
        min_steps = config.get("min_reflection_steps", DEFAULT_MIN_REFLECTION_STEPS)
        for name, value in (
            ("max_reflection_steps", max_steps),
            ("min_reflection_steps", min_steps),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"config[{name!r}] must be a whole number, got {value!r}.")
        if max_steps < 1 or min_steps > max_steps:
            raise ConfigurationError(
                f"Need 1 <= max_reflection_steps and min_reflection_steps <= max_reflection_steps, "
                f"got {max_steps} and {min_steps}."
            )
        if kind == "gradient":
            return cls(
                kind,
                model,
                diagnosis_prompt=_template(
                    config.get("gradient_prompt", prompts.GRADIENT_PROMPT),
                    "gradient_prompt",
                    prompts.GRADIENT_PROMPT_VARIABLES,
                ),
                rewrite_prompt=_template(
                    config.get("metaprompt", prompts.GRADIENT_UPDATE_PROMPT),
                    "metaprompt",
                    prompts.GRADIENT_UPDATE_VARIABLES,
                ),
                max_steps=max_steps,
                min_steps=min_steps,
            )
        if kind == "metaprompt":
            return cls(
                kind,
                model,
                rewrite_prompt=_template(
                    config.get("metaprompt", prompts.METAPROMPT),
                    "metaprompt",
                    prompts.METAPROMPT_VARIABLES,
                ),
                max_steps=max_steps,
                min_steps=min_steps,
            )
        return cls(kind, model, rewrite_prompt=prompts.PROMPT_MEMORY_PROMPT)

    def improve(
        self, prompt: PromptToImprove, sessions: str, config: RunnableConfig | None
    ) -> Pipeline[str]:
        """The improved text of ``prompt`` (its own text when no change is warranted)."""
        if self.kind == "gradient":
            return (yield from self._gradient(prompt, sessions, config))
        if self.kind == "metaprompt":
            request = self.rewrite_prompt.format(
                prompt=prompt.text,
                update_instructions=prompt.update_instructions,
                trajectories=sessions,
            )
            # min_reflection_steps counts the answering call, as LangMem's metaprompt does.
            answer = yield from reflect(
                self.model,
                request,
                prompts.UPDATE_PROMPT,
                max_steps=self.max_steps,
                answer_from=max(self.min_steps - 1, 0),
                config=config,
            )
            return (yield from self._settle(prompt.text, answer, config))
        request = self.rewrite_prompt.format(
            current_prompt=prompt.text,
            trajectories=sessions,
            update_instructions=prompt.update_instructions,
        )
        answer = yield from answer_once(
            self.model, [HumanMessage(request)], prompts.UPDATE_PROMPT, config
        )
        return (yield from self._settle(prompt.text, answer, config))

    def _gradient(
        self, prompt: PromptToImprove, sessions: str, config: RunnableConfig | None
    ) -> Pipeline[str]:
        request = self.diagnosis_prompt.format(
            prompt=prompt.text,
            update_instructions=prompt.update_instructions,
            trajectories=sessions,
            feedback="",
        )
        # At least min_reflection_steps think/critique calls come before the diagnosis.
        diagnosis = yield from reflect(
            self.model,
            request,
            prompts.RECOMMEND,
            max_steps=self.max_steps,
            answer_from=self.min_steps,
            config=config,
        )
        if diagnosis.args.get("warrants_adjustment") is not True:
            return prompt.text
        rewrite = self.rewrite_prompt.format(
            current_prompt=prompt.text,
            hypotheses=str(diagnosis.args.get("hypotheses") or ""),
            recommendations=str(diagnosis.args.get("full_recommendations") or ""),
            update_instructions=prompt.update_instructions,
        )
        answer = yield from answer_once(
            self.model, [HumanMessage(rewrite)], prompts.UPDATE_PROMPT, config
        )
        return (yield from self._settle(prompt.text, answer, config))

    def _settle(
        self, original: str, answer: Answer, config: RunnableConfig | None
    ) -> Pipeline[str]:
        """The answer's prompt with the original's variables kept; one correction if not."""
        for attempt in range(2):
            improved = answer.args.get("improved_prompt")
            if not isinstance(improved, str) or not improved.strip():
                return original
            try:
                return keep_template(original, improved.strip())
            except MissingVariables as exc:
                if attempt == 1:
                    raise ModelOutputError(
                        f"{exc} The model did not, even when asked again; the prompt was not "
                        "changed. Try another model or optimizer kind."
                    ) from None
                answer = yield from correct(
                    self.model, answer, str(exc), prompts.UPDATE_PROMPT, config
                )
        raise AssertionError("unreachable: the second attempt returns or raises")
