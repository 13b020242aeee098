"""``SpanrunClient.delete_experiment_tag`` (MLflow's ``delete_experiment_tag``), on the local
store and through a spanrun server (``experiments/delete-experiment-tag``)."""

from __future__ import annotations

import pytest

import spanrun
from spanrun.errors import InvalidInputError, InvalidStateError, NotFoundError


def test_delete_experiment_tag(client: spanrun.SpanrunClient) -> None:
    experiment_id = client.create_experiment("tagged", tags={"team": "nlp", "stage": "dev"})
    client.delete_experiment_tag(experiment_id, "stage")
    assert client.get_experiment(experiment_id).tags == {"team": "nlp"}
    with pytest.raises(NotFoundError, match="stage"):
        client.delete_experiment_tag(experiment_id, "stage")  # gone already
    with pytest.raises(NotFoundError):
        client.delete_experiment_tag("987654", "team")
    with pytest.raises(InvalidInputError):
        client.delete_experiment_tag(experiment_id, "../escape")
    client.delete_experiment(experiment_id)
    with pytest.raises(InvalidStateError):
        client.delete_experiment_tag(experiment_id, "team")
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).tags == {"team": "nlp"}


def test_fluent_delete_experiment_tag_acts_on_the_active_experiment(
    client: spanrun.SpanrunClient,
) -> None:
    spanrun.set_experiment("fluent-tagged")
    spanrun.set_experiment_tags({"team": "nlp", "stage": "dev"})
    spanrun.delete_experiment_tag("stage")
    experiment = spanrun.get_experiment_by_name("fluent-tagged")
    assert experiment is not None and experiment.tags == {"team": "nlp"}
    with pytest.raises(NotFoundError):
        spanrun.delete_experiment_tag("stage")
