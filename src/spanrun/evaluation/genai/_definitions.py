"""The built-in judge metrics' v1 texts: MLflow's definitions, rubrics, grading context
columns and example scores, in our own words (same meaning)."""

from __future__ import annotations

from dataclasses import dataclass, field

from spanrun.evaluation.genai._example import EvaluationExample

__all__ = ["BUILTINS", "Builtin"]

_QUESTION = "How is MLflow related to Databricks?"
_MLFLOW_FACTS = (
    "MLflow is an open-source platform that manages the whole machine learning (ML) lifecycle. "
    "Databricks, a company specialised in big data and machine learning solutions, developed it "
    "to address what data scientists and ML engineers meet when they develop, train and deploy "
    "models."
)
_DATABRICKS_ONLY = (
    "Databricks is a data engineering and analytics platform that helps organisations process "
    "and analyse large amounts of data; it is a company specialised in big data and machine "
    "learning solutions."
)
_DATABRICKS_COMPANY = (
    "Databricks is a company specialised in big data and machine learning solutions."
)
_MLFLOW_BY_DATABRICKS = (
    "MLflow is a product Databricks created to make machine learning processes more efficient."
)


@dataclass(frozen=True)
class Builtin:
    """One built-in judge metric's texts."""

    name: str
    definition: str
    rubric: str
    examples: list[EvaluationExample]
    context_columns: list[str] = field(default_factory=list)
    include_input: bool = True


_ANSWER_SIMILARITY = Builtin(
    name="answer_similarity",
    definition=(
        "Answer similarity measures how semantically similar the output is to the targets (the "
        "ground truth). Score by how closely the output's meaning and description follow the "
        "targets: a higher score means the output and the targets agree more."
    ),
    rubric=(
        "Answer similarity: what each score means:\n"
        "- Score 1: the output is semantically similar to the targets in little or nothing.\n"
        "- Score 2: the output is partly similar to the targets, on some aspects.\n"
        "- Score 3: the output is moderately similar to the targets.\n"
        "- Score 4: the output matches the targets in most aspects and is substantially "
        "similar.\n"
        "- Score 5: the output matches the targets closely in every significant aspect."
    ),
    context_columns=["targets"],
    include_input=False,
    examples=[
        EvaluationExample(
            input="What is MLflow?",
            output="MLflow is an open-source platform.",
            score=2,
            justification=(
                "The output shares the idea that MLflow is an open-source platform, but leaves "
                "out what the targets say about its purpose, its origin and the problems it "
                "solves: partial similarity only."
            ),
            grading_context={"targets": _MLFLOW_FACTS},
        ),
        EvaluationExample(
            input="What is MLflow?",
            output=(
                "MLflow is an open-source platform for managing machine learning workflows: "
                "experiment tracking, model packaging, versioning and deployment."
            ),
            score=4,
            justification=(
                "The output covers most of what the targets say about managing the ML "
                "lifecycle; it misses a few details (who developed it), so it is substantially "
                "but not fully similar."
            ),
            grading_context={"targets": _MLFLOW_FACTS},
        ),
    ],
)

_ANSWER_CORRECTNESS = Builtin(
    name="answer_correctness",
    definition=(
        "Answer correctness measures how accurate the output is compared with the targets (the "
        "ground truth). Score by the semantic similarity and the factual correctness of the "
        "output with respect to the targets: a higher score means a more accurate output."
    ),
    rubric=(
        "Answer correctness: what each score means:\n"
        "- Score 1: the output is wrong: completely different from the targets, or "
        "contradicting them.\n"
        "- Score 2: the output is somewhat similar and partly correct, but differs "
        "significantly from the targets or contains inaccuracies.\n"
        "- Score 3: the output gets a couple of aspects of the input right, in line with the "
        "targets, with some omissions or minor inaccuracies.\n"
        "- Score 4: the output is mostly correct, with one or more minor omissions or "
        "inaccuracies.\n"
        "- Score 5: the output is correct: highly accurate and semantically similar to the "
        "targets."
    ),
    context_columns=["targets"],
    examples=[
        EvaluationExample(
            input=_QUESTION,
            output=_DATABRICKS_ONLY,
            score=2,
            justification=(
                "The output rightly describes Databricks as a big data and machine learning "
                "company, but never mentions MLflow, which is what the question asks about: a "
                "significant discrepancy with the targets. The answer_correctness score is 2."
            ),
            grading_context={"targets": _MLFLOW_FACTS},
        ),
        EvaluationExample(
            input=_QUESTION,
            output=_MLFLOW_BY_DATABRICKS,
            score=4,
            justification=(
                "The output correctly says Databricks created MLflow, but omits that MLflow is "
                "an open-source platform for the whole ML lifecycle: mostly correct with a "
                "minor omission, so 4."
            ),
            grading_context={"targets": _MLFLOW_FACTS},
        ),
    ],
)

_FAITHFULNESS = Builtin(
    name="faithfulness",
    definition=(
        "Faithfulness is judged from the output and the context only: ignore the input "
        "entirely. It measures how much of the output is factually consistent with the "
        "context: a higher score means a larger share of the output's claims can be derived "
        "from the context. Context information missing from the output does not count."
    ),
    rubric=(
        "Faithfulness: what each score means:\n"
        "- Score 1: none of the output's claims can be inferred from the context.\n"
        "- Score 2: some claims can be inferred from the context, but most of the output is "
        "missing from, inconsistent with or contradicting the context.\n"
        "- Score 3: half or more of the output's claims can be inferred from the context.\n"
        "- Score 4: most claims can be inferred from the context; very little is not directly "
        "supported by it.\n"
        "- Score 5: every claim of the output is directly supported by the context."
    ),
    context_columns=["context"],
    include_input=False,
    examples=[
        EvaluationExample(
            input=_QUESTION,
            output=(
                "Databricks is a company specialised in big data and machine learning "
                "solutions. MLflow has nothing to do with Databricks. MLflow is an open-source "
                "platform for the whole machine learning lifecycle."
            ),
            score=2,
            justification=(
                'The claim "MLflow has nothing to do with Databricks" contradicts the context, '
                "which says Databricks developed it: a major inconsistency. The claims about "
                "what Databricks and MLflow are are supported, so some of the output can be "
                "inferred from the context, but most of it is inconsistent with it: 2."
            ),
            grading_context={"context": _MLFLOW_FACTS},
        ),
        EvaluationExample(
            input=_QUESTION,
            output=_DATABRICKS_COMPANY,
            score=5,
            justification=(
                "The single claim of the output is stated by the context word for word, so "
                "every claim is directly supported: 5."
            ),
            grading_context={"context": _MLFLOW_FACTS},
        ),
    ],
)

_ANSWER_RELEVANCE = Builtin(
    name="answer_relevance",
    definition=(
        "Answer relevance measures how appropriate and applicable the output is to the input. "
        "Scores reflect how directly the output addresses the question of the input; incomplete "
        "or redundant outputs score lower."
    ),
    rubric=(
        "Answer relevance: give a score from 1 to 5 by how relevant the output is to the "
        "input; the lowest and the highest scores mean:\n"
        "- Score 1: the output says nothing about the question, or is completely irrelevant "
        "to the input.\n"
        "- Score 5: the output addresses every aspect of the question, and every part of it "
        "is meaningful and relevant to the question."
    ),
    examples=[
        EvaluationExample(
            input=_QUESTION,
            output=_DATABRICKS_COMPANY,
            score=2,
            justification=(
                "The output tells something about Databricks, which the question mentions, but "
                "not how MLflow and Databricks are related, the point of the question: not "
                "irrelevant, but not an answer either, hence a low score."
            ),
        ),
        EvaluationExample(
            input=_QUESTION,
            output=_MLFLOW_BY_DATABRICKS,
            score=5,
            justification=(
                "The output answers the question directly and concisely: Databricks created "
                "MLflow, and it says what MLflow is for. Fully relevant."
            ),
        ),
    ],
)

_RELEVANCE = Builtin(
    name="relevance",
    definition=(
        "Relevance covers how appropriate, significant and applicable the output is with "
        "respect to both the input and the context. Scores reflect how directly the output "
        "addresses the question of the input, given the context."
    ),
    rubric=(
        "Relevance: what each score means:\n"
        "- Score 1: the output says nothing about the question, or is completely irrelevant "
        "to the context.\n"
        "- Score 2: the output is somewhat relevant to the question and somehow related to "
        "the context.\n"
        "- Score 3: the output mostly answers the question and is largely consistent with the "
        "context.\n"
        "- Score 4: the output answers the question and is consistent with the context.\n"
        "- Score 5: the output answers the question comprehensively, using the context."
    ),
    context_columns=["context"],
    examples=[
        EvaluationExample(
            input=_QUESTION,
            output=_DATABRICKS_ONLY,
            score=2,
            justification=(
                "The output says relevant things about Databricks, but not how MLflow relates "
                "to it, which is what the input asks: only somewhat related to the context."
            ),
            grading_context={"context": _MLFLOW_FACTS},
        ),
        EvaluationExample(
            input=_QUESTION,
            output=_MLFLOW_BY_DATABRICKS,
            score=4,
            justification=(
                "The output states the relationship between MLflow and Databricks accurately "
                "and meaningfully, if briefly; more detail from the context on what MLflow "
                "does would earn a 5."
            ),
            grading_context={"context": _MLFLOW_FACTS},
        ),
    ],
)

#: The v1 built-ins by name.
BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        _ANSWER_SIMILARITY,
        _ANSWER_CORRECTNESS,
        _FAITHFULNESS,
        _ANSWER_RELEVANCE,
        _RELEVANCE,
    )
}
