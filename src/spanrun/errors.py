"""The one exception tree of spanrun.

Every error spanrun raises on purpose derives from :class:`SpanrunError`::

    SpanrunError
    ├── InvalidInputError          (also a ValueError)   bad key, value, metric, batch size
    │   ├── InvalidParamChangeError                      param re-logged with another value
    │   ├── InvalidFilterError                           search filter / order_by that doesn't parse
    │   ├── UnsafePathError                              artifact path escaping its root
    │   └── TableSchemaError                             log_table columns that don't match
    ├── NotFoundError              (also a LookupError)  unknown run, experiment, artifact, trace
    ├── InvalidStateError                                deleted run/experiment, active-run misuse
    ├── AlreadyExistsError                               experiment name taken
    ├── StoreError                                       the backing store failed (I/O, DB)
    ├── MissingDependencyError     (also ImportError)    an optional extra is not installed
    └── UnsupportedError           (also AttributeError) an MLflow API spanrun does not have

Each error carries an MLflow-compatible ``error_code`` so the REST server can map it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidParamChangeError",
    "InvalidStateError",
    "MissingDependencyError",
    "NotFoundError",
    "SpanrunError",
    "StoreError",
    "TableSchemaError",
    "UnsafePathError",
    "UnsupportedError",
]


class SpanrunError(Exception):
    """Base class of every error spanrun raises on purpose."""

    error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(SpanrunError, ValueError):
    """An argument is malformed: bad key, over-long value, non-numeric metric, ..."""

    error_code = "INVALID_PARAMETER_VALUE"


class InvalidParamChangeError(InvalidInputError):
    """A param was logged again with a different value."""


class InvalidFilterError(InvalidInputError):
    """A search filter or order_by clause does not parse; the message says where."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class UnsafePathError(InvalidInputError):
    """An artifact path would escape its root directory."""


class TableSchemaError(InvalidInputError):
    """Rows appended to a logged table do not match its columns."""


class NotFoundError(SpanrunError, LookupError):
    """A run, experiment, artifact or trace does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class InvalidStateError(SpanrunError):
    """The operation is not allowed in the current state (deleted run, active run exists...)."""

    error_code = "INVALID_STATE"


class AlreadyExistsError(SpanrunError):
    """A resource with that name already exists."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class StoreError(SpanrunError):
    """The backing store failed (database or file-system error)."""

    error_code = "INTERNAL_ERROR"


class MissingDependencyError(SpanrunError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    error_code = "INTERNAL_ERROR"


class UnsupportedError(SpanrunError, AttributeError):
    """An MLflow API that spanrun does not offer; the message says what to use instead.

    Also an AttributeError, so ``hasattr(spanrun, name)`` stays False for it."""

    error_code = "FEATURE_DISABLED"
