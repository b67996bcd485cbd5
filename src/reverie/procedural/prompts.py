"""What the prompt optimizers send the model: default prompts (each replaceable through the
optimizer's config) and the tools the model answers with."""

from __future__ import annotations

from typing import Any

GRADIENT_PROMPT = """You are diagnosing how a system prompt performed.

The prompt:
<current_prompt>
{prompt}
</current_prompt>

When and how the developer wants it changed:
<update_instructions>
{update_instructions}
</update_instructions>

Sessions run with this prompt, each with any feedback it got:
<trajectories>
{trajectories}
</trajectories>

Find out whether the prompt caused failures in these sessions: wrong or incomplete answers, \
ignored instructions, wrong tone or format, skipped steps. Reason with think and critique, then \
call recommend. Recommend a change only for failures the sessions show, and the smallest change \
that fixes them (an example, a rule, step-by-step guidance); if nothing failed, set \
warrants_adjustment to false."""

GRADIENT_UPDATE_PROMPT = """Rewrite this prompt to fix the diagnosed problems.

<current_prompt>
{current_prompt}
</current_prompt>

Diagnosis:
<hypotheses>
{hypotheses}
</hypotheses>

Changes to make:
<recommendations>
{recommendations}
</recommendations>

The developer's instructions for changes:
<update_instructions>
{update_instructions}
</update_instructions>

Change only what the recommendations require and keep the rest word for word. Call \
update_prompt with the complete new prompt."""

METAPROMPT = """You improve an AI assistant's system prompt from how it performed.

The prompt:
<current_prompt>
{prompt}
</current_prompt>

When and how the developer wants it changed:
<update_instructions>
{update_instructions}
</update_instructions>

Sessions run with this prompt, each with any feedback it got:
<trajectories>
{trajectories}
</trajectories>

Find the failures these sessions show and what in the prompt caused each. Then call \
update_prompt with the complete improved prompt, changing only what fixes those failures (an \
example for style, a rule for a wrong decision, steps for faulty reasoning). If nothing failed, \
return the prompt unchanged. Keep every {{placeholder}} of the prompt exactly as written."""

PROMPT_MEMORY_PROMPT = """You improve an AI assistant's system prompt from its sessions.

The prompt:
<current_prompt>
{current_prompt}
</current_prompt>

Sessions run with this prompt, each with any feedback it got:
<trajectories>
{trajectories}
</trajectories>

The developer's instructions for changes:
<update_instructions>
{update_instructions}
</update_instructions>

Call update_prompt once. If the sessions show the prompt should change, give the complete new \
prompt, keeping what still applies and every {{placeholder}} as written; otherwise leave \
improved_prompt empty."""

CHOOSE_PROMPT = """Several prompts work together in one system. Decide which of them should \
change, given these sessions.

<trajectories>
{trajectories}
</trajectories>

The prompts:
{prompts}

Call choose_prompts with the names of the prompts whose wording caused problems in the sessions \
(respect each prompt's "update when" note), or an empty list if none did."""

REFLECT_NUDGE = "Continue by calling one of the tools."
NOTED = "Noted."

# Variables each configurable template may use.
GRADIENT_PROMPT_VARIABLES = frozenset({"prompt", "update_instructions", "trajectories", "feedback"})
GRADIENT_UPDATE_VARIABLES = frozenset(
    {"current_prompt", "hypotheses", "recommendations", "update_instructions"}
)
METAPROMPT_VARIABLES = frozenset({"prompt", "update_instructions", "trajectories"})


def _tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


THINK = _tool(
    "think",
    "Write down your reasoning about the sessions and the prompt.",
    {"thought": {"type": "string"}},
    ["thought"],
)
CRITIQUE = _tool(
    "critique",
    "Challenge your reasoning so far: what could be wrong, missing or overfitted?",
    {"criticism": {"type": "string"}},
    ["criticism"],
)
RECOMMEND = _tool(
    "recommend",
    "Conclude: should the prompt change, why, and how.",
    {
        "warrants_adjustment": {"type": "boolean"},
        "hypotheses": {"type": "string", "description": "What in the prompt caused the failures."},
        "full_recommendations": {"type": "string", "description": "The changes to make."},
    },
    ["warrants_adjustment"],
)
UPDATE_PROMPT = _tool(
    "update_prompt",
    "Give the improved prompt.",
    {
        "analysis": {"type": "string", "description": "What failed and what the change fixes."},
        "improved_prompt": {
            "type": "string",
            "description": "The complete new prompt; empty to keep the current one.",
        },
    },
    ["analysis", "improved_prompt"],
)


def choose_tool(names: list[str]) -> dict[str, Any]:
    return _tool(
        "choose_prompts",
        "Name the prompts to update.",
        {
            "reasoning": {"type": "string"},
            "which": {"type": "array", "items": {"type": "string", "enum": names}},
        },
        ["reasoning", "which"],
    )
