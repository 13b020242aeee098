"""The grading prompt of ``make_genai_metric`` (the meaning of MLflow's v1 prompt, our words).

The judge is asked for a JSON object ``{"score": ..., "justification": ...}``; the section
headers (``Input:``, ``Output:``, ``Additional information used by the model:``, ``Metric
definition:``, ``Grading rubric:``, ``Examples:``) are MLflow's, so judges tuned on its prompts
read ours alike. Values are substituted in one pass: braces in user text are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from spanrun.evaluation.genai._example import EvaluationExample, format_context

__all__ = ["ANSWER_FORMAT", "GradingPrompt", "fill"]

#: What the judge must answer (also appended to ``make_genai_metric_from_prompt`` prompts).
ANSWER_FORMAT = (
    "Answer with a JSON object and nothing else, in this form:\n"
    '{"score": <your numerical score, following the rubric>, '
    '"justification": "<your reasoning for this score>"}'
)

_JUDGE_WITH_INPUT = (
    "You are an impartial judge. You are given the input that was sent to a machine learning "
    "model and the output the model produced, and possibly additional information the model "
    "used to produce that output.\nYour task is to determine a numerical score called {name} "
    "from the input and the output."
)
_JUDGE_OUTPUT_ONLY = (
    "You are an impartial judge. You are given the output a machine learning model produced, "
    "and possibly additional information the model used to produce it.\nYour task is to "
    "determine a numerical score called {name} from the output and any additional information "
    "given."
)

_TEMPLATE = """
Task:
Grade the model's {name}. You must return two fields: a score (your numerical score for the
model's {name}, following the grading rubric) and a justification (your reasoning for that
score).
{judge}
The definition of {name} and a grading rubric are given below. Use the rubric to decide the
score, and justify it. Examples may be given below as references: read and understand them
before grading.{input_section}

Output:
{output}

{grading_context_columns}

Metric definition:
{definition}

Grading rubric:
{grading_prompt}

{examples}

{answer_format}
"""

_SLOT = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` slots found in ``values`` (others stay) in one pass."""
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class GradingPrompt:
    """The prompt of one metric, with its definition, rubric and examples filled in."""

    def __init__(
        self,
        name: str,
        definition: str,
        grading_prompt: str,
        examples: Sequence[EvaluationExample] | None,
        include_input: bool,
    ) -> None:
        self.include_input = include_input
        shown = "\n".join(str(e) for e in examples or ())
        judge = fill(_JUDGE_WITH_INPUT if include_input else _JUDGE_OUTPUT_ONLY, {"name": name})
        # Two parts: the head holds the per-row slots (input, output, context); the tail only
        # the metric's own text, filled once. One-pass substitution: braces in the
        # definition, rubric or examples are never taken for slots.
        at = _TEMPLATE.index("{definition}")
        self._head = fill(
            _TEMPLATE[:at],
            {
                "name": name,
                "judge": judge,
                "input_section": "\n\nInput:\n{input}" if include_input else "",
            },
        )
        self._tail = fill(
            _TEMPLATE[at:],
            {
                "definition": definition,
                "grading_prompt": grading_prompt,
                "examples": f"Examples:\n{shown}" if shown else "",
                "answer_format": ANSWER_FORMAT,
            },
        )

    def format(self, input: object, output: object, context: Mapping[str, object]) -> str:
        """The prompt for one row."""
        context_text = (
            f"Additional information used by the model:\n{format_context(dict(context))}"
            if context
            else ""
        )
        head = fill(
            self._head,
            {
                "input": str(input) if self.include_input else "",
                "output": str(output),
                "grading_context_columns": context_text,
            },
        )
        return head + self._tail

    def __str__(self) -> str:
        """The template (``metric_details``), with the per-row slots left in."""
        return self._head + self._tail
