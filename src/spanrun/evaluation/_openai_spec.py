"""OpenAI model specs: what ``spanrun.openai.log_model`` writes and ``spanrun.pyfunc`` reads.

A spec is a directory artifact laid out as MLflow's openai flavor lays it out: ``MLmodel``
(YAML: flavors, run id, creation time) and ``model.yaml`` (``model``, ``task``, ``messages`` or
``prompt``, request params). API keys and other secrets are never written: parameters that look
like one are dropped with a warning naming them (the values are not logged).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from spanrun.artifacts import download_artifacts, normalize_artifact_path, resolve_under
from spanrun.errors import InvalidInputError, NotFoundError, UnsafePathError
from spanrun.tracking.fluent import tracker

__all__ = ["ModelInfo", "log_openai_model", "read_spec", "task_name"]

_log = logging.getLogger("spanrun.evaluation")

MLMODEL = "MLmodel"
MODEL_FILE = "model.yaml"
TASKS = ("chat.completions", "completions", "embeddings")
# Legacy (openai<1) names: in openai>=1 they are APIRemovedInV1Proxy objects whose attributes
# raise, so only their type and the symbol they stand for are read.
_LEGACY = {
    "ChatCompletion": "chat.completions",
    "Completion": "completions",
    "Embedding": "embeddings",
}
_MODULE_PROXIES = {"CompletionsProxy": "completions", "EmbeddingsProxy": "embeddings"}
_SECRET = re.compile(
    r"api[_-]?key|secret|password|passwd|authorization|headers$|"
    r"(^|_)(access|auth|bearer|ad|api|session|refresh|id)_?token$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` logged (MLflow's ``ModelInfo`` fields that apply)."""

    run_id: str
    artifact_path: str
    model_uri: str
    flavors: dict[str, Any] = field(default_factory=dict)
    model_uuid: str = ""
    utc_time_created: str = ""
    dropped_params: tuple[str, ...] = ()


def task_name(task: Any) -> str:
    """``"chat.completions"``, ``"completions"`` or ``"embeddings"`` for a task given as a
    string, an openai resource (``openai.chat.completions``) or a legacy name
    (``openai.ChatCompletion``)."""
    if isinstance(task, str):
        name = task.strip()
        name = name[len("openai.") :] if name.startswith("openai.") else name
        name = _LEGACY.get(name, name)
        if name in TASKS:
            return name
        raise InvalidInputError(f"Unsupported task {task!r}: use one of {list(TASKS)}")
    cls = task if isinstance(task, type) else type(task)
    module, cls_name = getattr(cls, "__module__", ""), getattr(cls, "__name__", "")
    if cls_name == "APIRemovedInV1Proxy":
        try:
            symbol = object.__getattribute__(task, "_symbol")
        except AttributeError:
            symbol = None
        if symbol in _LEGACY:
            return _LEGACY[symbol]
    elif module == "openai._module_client" and cls_name in _MODULE_PROXIES:
        return _MODULE_PROXIES[cls_name]
    elif module.startswith("openai.resources."):
        area = module[len("openai.resources.") :]
        if area.startswith(("chat.", "beta.chat.")) and cls_name.endswith("Completions"):
            return "chat.completions"
        if area.startswith("completions") and cls_name.endswith("Completions"):
            return "completions"
        if area.startswith("embeddings") and cls_name.endswith("Embeddings"):
            return "embeddings"
    raise InvalidInputError(
        f"Unsupported task object of type {module}.{cls_name}: use openai.chat.completions, "
        f"openai.completions, openai.embeddings or one of the strings {list(TASKS)}"
    )


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not all(
        isinstance(m, Mapping) and "role" in m and "content" in m for m in messages
    ):
        raise InvalidInputError(
            "messages must be a list of dicts with 'role' and 'content' keys, e.g. "
            "[{'role': 'user', 'content': '{question}'}]"
        )
    return [dict(m) for m in messages]


def _public_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    kept, dropped = {}, []
    for key, value in params.items():
        if _SECRET.search(str(key)):
            dropped.append(str(key))
        else:
            kept[str(key)] = value
    return kept, tuple(dropped)


def _yaml_safe(spec: dict[str, Any]) -> str:
    try:
        return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"log_model: the model spec must hold plain values (str, numbers, lists, dicts): {exc}"
        ) from None


def log_openai_model(
    model: Any,
    task: Any,
    artifact_path: str | None = "model",
    messages: Any = None,
    name: str | None = None,
    **params: Any,
) -> ModelInfo:
    """Write an OpenAI model spec into the active run (or a new run, ended after)."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(f"model must be a model name like 'gpt-4o-mini', got {model!r}")
    task_id = task_name(task)
    path = normalize_artifact_path(name or artifact_path or "model")
    if not path:
        raise UnsafePathError("artifact_path must name a directory inside the run, e.g. 'model'")
    spec: dict[str, Any] = {"model": model, "task": task_id}
    if messages is not None:
        if task_id != "chat.completions":
            raise InvalidInputError(f"messages apply to chat.completions, not to {task_id}")
        spec["messages"] = _check_messages(messages)
    kept, dropped = _public_params(params)
    if dropped:
        _log.warning(
            "spanrun.openai.log_model: not saving %s (secrets are never written to a model "
            "spec; the client reads OPENAI_API_KEY from the environment when the model runs)",
            ", ".join(sorted(dropped)),
        )
    spec.update(kept)
    spec_text = _yaml_safe(spec)

    started = tracker.active_run() is None
    run = tracker.start_run() if started else tracker.active_run()
    assert run is not None
    try:
        run_id = run.info.run_id
        model_uuid = uuid.uuid4().hex
        created = datetime.datetime.now(datetime.timezone.utc).isoformat()
        flavors: dict[str, Any] = {
            "openai": {"data": MODEL_FILE, "openai_version": _openai_version()},
            "python_function": {"loader_module": "mlflow.openai", "data": MODEL_FILE},
        }
        mlmodel = {
            "artifact_path": path,
            "flavors": flavors,
            "model_uuid": model_uuid,
            "run_id": run_id,
            "utc_time_created": created,
            "spanrun": {"task": task_id},
        }
        with tempfile.TemporaryDirectory(prefix="spanrun-model-") as tmp:
            with open(os.path.join(tmp, MODEL_FILE), "w", encoding="utf-8") as f:
                f.write(spec_text)
            with open(os.path.join(tmp, MLMODEL), "w", encoding="utf-8") as f:
                f.write(yaml.safe_dump(mlmodel, sort_keys=False))
            tracker.log_artifacts(tmp, path, run_id=run_id)
    except BaseException:
        if started:
            tracker.end_run("FAILED")
        raise
    if started:
        tracker.end_run()
    return ModelInfo(
        run_id=run_id,
        artifact_path=path,
        model_uri=f"runs:/{run_id}/{path}",
        flavors=flavors,
        model_uuid=model_uuid,
        utc_time_created=created,
        dropped_params=dropped,
    )


def _openai_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("openai")
    except Exception:
        return None


def _local_dir(model_uri: str, dst_path: str | None) -> str:
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidInputError(f"model_uri must be a URI or a path, got {model_uri!r}")
    if os.path.isdir(model_uri):
        return model_uri
    if model_uri.startswith("file://") and os.path.isdir(model_uri[len("file://") :]):
        return model_uri[len("file://") :]
    if "://" not in model_uri and ":/" not in model_uri:
        raise NotFoundError(f"No model directory at {model_uri!r}")
    return download_artifacts(artifact_uri=model_uri, dst_path=dst_path)


def read_spec(model_uri: str, dst_path: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model spec, MLmodel metadata)`` of the spec at ``model_uri``: ``runs:/<id>/<path>``,
    the artifact's own URI, or a local directory."""
    local = _local_dir(model_uri, dst_path)
    metadata: dict[str, Any] = {}
    mlmodel_path = os.path.join(local, MLMODEL)
    if os.path.isfile(mlmodel_path):
        metadata = _read_yaml(mlmodel_path, model_uri) or {}
    flavor = (metadata.get("flavors") or {}).get("openai") if isinstance(metadata, dict) else None
    data = flavor.get("data", MODEL_FILE) if isinstance(flavor, dict) else MODEL_FILE
    # The file name comes from the artifact: it must stay inside the model directory.
    _, data_path = resolve_under(local, str(data))
    if not os.path.isfile(data_path):
        raise NotFoundError(
            f"{model_uri!r} is not an OpenAI model spec (no {data}); log one with "
            "spanrun.openai.log_model"
        )
    spec = _read_yaml(data_path, model_uri)
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
        raise InvalidInputError(f"{model_uri!r}: {data} does not describe an OpenAI model")
    spec["task"] = task_name(spec.get("task", "chat.completions"))
    return spec, metadata if isinstance(metadata, dict) else {}


def _read_yaml(path: str, uri: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"Cannot read the model spec at {uri!r}: {exc}") from None
