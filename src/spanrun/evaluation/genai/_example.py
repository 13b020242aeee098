"""``EvaluationExample``: a graded example shown to the judge (few-shot), as MLflow's."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EvaluationExample", "format_context"]


def format_context(context: dict[str, object]) -> str:
    """``key: <column>`` / ``value:`` / ``<text>`` blocks, one per grading context column."""
    return "\n".join(f"key: {key}\nvalue:\n{value}" for key, value in context.items())


@dataclass
class EvaluationExample:
    """A graded example for an LLM-judge metric (``mlflow.metrics.genai.EvaluationExample``).

    ``grading_context`` maps grading context column names to their text, or is one text (taken
    as the metric's first grading context column).
    """

    output: str
    score: float
    justification: str
    input: str | None = None
    grading_context: dict[str, str] | str | None = None

    def __str__(self) -> str:
        parts = []
        if self.input is not None:
            parts.append(f"\nExample Input:\n{self.input}\n")
        parts.append(f"\nExample Output:\n{self.output}\n")
        if self.grading_context:
            context = (
                format_context(dict(self.grading_context))
                if isinstance(self.grading_context, dict)
                else self.grading_context
            )
            parts.append(f"\nAdditional information used by the model:\n{context}\n")
        parts.append(
            f"\nExample score: {self.score}\nExample justification: {self.justification}\n"
        )
        return "".join(parts)
