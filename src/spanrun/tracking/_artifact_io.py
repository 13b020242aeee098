"""Turning in-memory objects (text, dicts, images) into artifact bytes."""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any

from spanrun.errors import InvalidInputError, MissingDependencyError

__all__ = ["dict_bytes", "image_bytes"]


def dict_bytes(dictionary: Any, artifact_file: str) -> bytes:
    """YAML for ``.yaml``/``.yml`` files, indented JSON otherwise (as ``mlflow.log_dict``)."""
    ext = posixpath.splitext(artifact_file)[1].lower()
    try:
        if ext in (".yaml", ".yml"):
            import yaml

            return yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False).encode()
        return json.dumps(dictionary, indent=2).encode()
    except Exception as exc:  # json's TypeError/ValueError, yaml's RepresenterError
        raise InvalidInputError(
            f"Cannot serialize the dictionary for {artifact_file!r}: {exc}"
        ) from exc


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError(
            "log_image needs Pillow: pip install pillow (numpy too for arrays)"
        ) from exc
    return Image


def _array_to_image(array: Any, image_module: Any) -> Any:
    import numpy as np

    x = np.asarray(array)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (3, 4))):
        raise InvalidInputError(
            f"log_image takes an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
            f"got {x.shape}"
        )
    if x.dtype == np.bool_:
        raise InvalidInputError("log_image: boolean arrays are not images; convert them first")
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not (np.nanmin(x) >= 0.0 and np.nanmax(x) <= 1.0):
            raise InvalidInputError("log_image: float arrays must hold values in [0, 1]")
        x = np.nan_to_num(x * 255.0).round().astype(np.uint8)
    elif np.issubdtype(x.dtype, np.integer):
        if x.size and not (x.min() >= 0 and x.max() <= 255):
            raise InvalidInputError("log_image: integer arrays must hold values in [0, 255]")
        x = x.astype(np.uint8)
    else:
        raise InvalidInputError(f"log_image: unsupported array dtype {x.dtype}")
    return image_module.fromarray(x)


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """Encode a PIL image or a numpy array in the format named by the file's extension."""
    image_module = _pil()
    is_array = type(image).__module__.split(".")[0] == "numpy" or hasattr(
        image, "__array_interface__"
    )
    if is_array and not isinstance(image, image_module.Image):
        image = _array_to_image(image, image_module)
    if not isinstance(image, image_module.Image):
        raise InvalidInputError(
            f"log_image takes a PIL image or a numpy array, got {type(image).__name__}"
        )
    ext = posixpath.splitext(artifact_file)[1].lower()
    fmt = image_module.registered_extensions().get(ext)
    if fmt is None:
        raise InvalidInputError(
            f"log_image: cannot tell the image format from {artifact_file!r}; use e.g. '.png'"
        )
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInputError(f"log_image: cannot save the image as {fmt}: {exc}") from exc
    return buffer.getvalue()


def figure_bytes(figure: Any, artifact_file: str, save_kwargs: dict[str, Any] | None) -> bytes:
    """A matplotlib or plotly figure in the format of the file's extension (MLflow's
    ``log_figure``): matplotlib saves any format it knows; plotly writes ``.html`` itself and
    images through kaleido."""
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
    kwargs = dict(save_kwargs or {})
    buffer = io.BytesIO()
    module = type(figure).__module__.split(".")[0]
    try:
        if module == "matplotlib" and hasattr(figure, "savefig"):
            figure.savefig(buffer, format=ext or "png", **kwargs)
            return buffer.getvalue()
        if module == "plotly" and hasattr(figure, "write_html"):
            if ext in ("html", "htm"):
                text = io.StringIO()
                figure.write_html(text, **kwargs)
                return text.getvalue().encode("utf-8")
            result: bytes = figure.to_image(format=ext or "png", **kwargs)
            return result
    except (ValueError, TypeError, OSError, RuntimeError, ImportError) as exc:
        raise InvalidInputError(f"log_figure: cannot save the figure as {ext!r}: {exc}") from exc
    raise InvalidInputError(
        f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}"
    )
