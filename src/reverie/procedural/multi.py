"""``create_multi_prompt_optimizer``: decide which of several prompts the feedback is about,
then improve only those."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig

from reverie.core.effects import Pipeline, arun, run
from reverie.core.errors import InputError, ModelOutputError
from reverie.procedural import prompts
from reverie.procedural.optimizer import PromptOptimizer
from reverie.procedural.reflection import Answer, answer_once, correct
from reverie.procedural.strategies import Kind
from reverie.procedural.trajectories import read_prompt, read_trajectories, render_trajectories
from reverie.procedural.types import MultiPromptOptimizerInput, Prompt, Trajectory

logger = logging.getLogger("reverie.procedural")


def _prompts(raw: Any) -> list[Prompt]:
    if not isinstance(raw, list) or not raw:
        raise InputError("'prompts' must be a non-empty list of Prompt dicts {'name', 'prompt'}.")
    names = []
    for entry in raw:
        if (
            not isinstance(entry, Mapping)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            raise InputError(f"Every prompt needs a 'name' and a 'prompt', got {entry!r:.100}.")
        read_prompt(entry)
        names.append(entry["name"])
    if len(set(names)) != len(names):
        raise InputError(f"Prompt names must be unique, got {names}.")
    return list(raw)


def _describe(prompt: Prompt) -> str:
    text = f'<prompt name="{prompt["name"]}">\n{prompt["prompt"]}\n</prompt>'
    if prompt.get("when_to_update"):
        text += f"\nUpdate when: {prompt['when_to_update']}"
    if prompt.get("update_instructions"):
        text += f"\nHow to update: {prompt['update_instructions']}"
    return text


class MultiPromptOptimizer(Runnable[MultiPromptOptimizerInput, list[Prompt]]):
    """Runnable from ``{"trajectories": ..., "prompts": [Prompt, ...]}`` to the same prompts,
    those the trajectories implicate improved. Also ``await optimizer(trajectories, prompts)``."""

    def __init__(self, model: str | BaseChatModel, kind: Kind, config: Any) -> None:
        self.single = PromptOptimizer(model, kind, config)
        self.model = self.single.model
        self.kind = kind

    def _choose(
        self, prompt_list: list[Prompt], sessions: str, config: RunnableConfig | None
    ) -> Pipeline[list[str]]:
        names = [p["name"] for p in prompt_list]
        tool = prompts.choose_tool(names)
        request = prompts.CHOOSE_PROMPT.format(
            trajectories=sessions, prompts="\n\n".join(_describe(p) for p in prompt_list)
        )
        answer: Answer = yield from answer_once(self.model, [HumanMessage(request)], tool, config)
        for attempt in range(2):
            which = answer.args.get("which")
            chosen = [w for w in which if isinstance(w, str)] if isinstance(which, list) else []
            unknown = sorted(set(chosen) - set(names))
            if not unknown and isinstance(which, list):
                return [n for n in names if n in chosen]
            if attempt == 0:
                problem = f"'which' must list prompt names among {names}; unknown: {unknown}."
                answer = yield from correct(self.model, answer, problem, tool, config)
        known = [n for n in names if n in chosen]
        if not known:
            raise ModelOutputError(
                f"The model named no known prompt to update (it said {which!r:.200}), even when "
                f"asked again; the prompts are {names}. Nothing was changed."
            )
        logger.warning("Ignored unknown prompt names from the model: %s", unknown)
        return known

    def pipeline(self, input: Any, config: RunnableConfig | None = None) -> Pipeline[list[Prompt]]:
        if not isinstance(input, Mapping) or "prompts" not in input or "trajectories" not in input:
            raise InputError("The input must be a dict with 'trajectories' and 'prompts'.")
        prompt_list = _prompts(input["prompts"])
        sessions = render_trajectories(read_trajectories(input["trajectories"]))
        if not sessions:
            return [Prompt(**p) for p in prompt_list]
        if len(prompt_list) == 1 and not prompt_list[0].get("when_to_update"):
            chosen = [prompt_list[0]["name"]]
        else:
            chosen = yield from self._choose(prompt_list, sessions, config)
        result: list[Prompt] = []
        for prompt in prompt_list:
            if prompt["name"] in chosen:
                text = yield from self.single.strategy.improve(
                    read_prompt(prompt), sessions, config
                )
                result.append({**prompt, "prompt": text})
            else:
                result.append(Prompt(**prompt))
        return result

    def invoke(
        self, input: MultiPromptOptimizerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Prompt]:
        return run(self.pipeline(input, config))

    async def ainvoke(
        self, input: MultiPromptOptimizerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Prompt]:
        return await arun(self.pipeline(input, config))

    async def __call__(
        self, trajectories: Sequence[Trajectory] | str, prompts: list[Prompt]
    ) -> list[Prompt]:
        return await self.ainvoke({"trajectories": trajectories, "prompts": prompts})


def create_multi_prompt_optimizer(
    model: str | BaseChatModel,
    /,
    *,
    kind: Kind = "gradient",
    config: dict[str, Any] | None = None,
) -> MultiPromptOptimizer:
    """An optimizer for several prompts that work together (a chain, a team of agents).

    One call decides which prompts the trajectories implicate (reading each prompt's
    ``when_to_update``); each of those is then improved with the ``kind`` strategy (see
    :func:`create_prompt_optimizer`); the others come back unchanged. A single prompt without
    ``when_to_update`` is improved directly.
    """
    return MultiPromptOptimizer(model, kind, config)
