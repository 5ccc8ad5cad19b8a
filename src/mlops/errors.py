"""The errors mlops raises, one tree for the library, the store and (later) the App.

::

    MlopsError                 base class; ``code`` is a stable string, ``status`` an HTTP status
    ├── InvalidInput           a value, name or query the caller gave is not acceptable (422)
    │   ├── QuerySyntaxError   a filter or order_by expression does not parse (422)
    │   ├── QueryTimeout       a search ran past the App's statement timeout (422)
    │   └── TooLarge           a request or batch is over its size limit (413)
    ├── NotFound               no project/experiment/iteration/dataset has that id (404)
    ├── AlreadyExists          a unique title/name/version is taken (409)
    ├── NoActiveProject        no project given and none set active (400)
    ├── IterationEnded         logging to an iteration that already ended (409)
    ├── SchemaOutdated         the database schema is behind this version of mlops (503)
    ├── Unauthorized           the App needs a valid token and got none, or a revoked one (401)
    ├── Forbidden              the token's scope does not allow the request (403)
    ├── MissingDependency      an optional package a function needs is not installed (also an
    │                          ``ImportError``; the message says what to pip install)
    ├── StorageError           the database answered with an error of its own: a damaged file,
    │                          a limit of the engine, a value it cannot hold (500, not retried)
    └── Unavailable            the store cannot be reached, is locked, busy or overloaded (503,
                               retried: the App also sends ``Retry-After``)

Every message names the thing that was wrong and how to fix it. ``except NotFound`` behaves the
same whichever store is behind the library, so callers never need to catch database errors.
"""

from __future__ import annotations

__all__ = [
    "ERRORS_BY_CODE",
    "AlreadyExists",
    "Forbidden",
    "InvalidInput",
    "IterationEnded",
    "MissingDependency",
    "MlopsError",
    "NoActiveProject",
    "NotFound",
    "QuerySyntaxError",
    "QueryTimeout",
    "SchemaOutdated",
    "StorageError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]


class MlopsError(Exception):
    """Base class of every error mlops raises on purpose."""

    code: str = "mlops_error"
    status: int = 500
    #: Whether the same request may succeed if sent again later (the HTTP client retries it).
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The error as the JSON body the App sends: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


class InvalidInput(MlopsError, ValueError):
    """Raised when an argument (a name, a metric value, a path, a limit...) is not acceptable."""

    code = "invalid_input"
    status = 422


class QuerySyntaxError(InvalidInput):
    """Raised when a filter or order_by does not parse; the message points at the token."""

    code = "query_syntax"


class QueryTimeout(InvalidInput):
    """Raised when a query runs longer than the App's statement timeout and is stopped: narrow
    the filter (asking again would only time out again)."""

    code = "query_timeout"


class TooLarge(InvalidInput):
    """Raised when a request body or a batch is over the App's limit; send smaller batches."""

    code = "too_large"
    status = 413


class UnsupportedMediaType(InvalidInput):
    """Raised when a request's body is in a form (``Content-Type``) the route does not take."""

    code = "unsupported_media_type"
    status = 415


class NotFound(MlopsError, LookupError):
    """Raised when no object has the given id (the message names the id and its kind)."""

    code = "not_found"
    status = 404


class AlreadyExists(MlopsError):
    """Raised when a unique title, name or dataset version is taken (the message names the id)."""

    code = "already_exists"
    status = 409


class NoActiveProject(MlopsError):
    """Raised when a function needs a project, none was passed and none is set active."""

    code = "no_active_project"
    status = 400


class IterationEnded(MlopsError):
    """Raised when something is logged to an iteration after ``end_iteration()``."""

    code = "iteration_ended"
    status = 409


class SchemaOutdated(MlopsError):
    """Raised when the database was made by an older mlops: run ``mlops db upgrade``."""

    code = "schema_outdated"
    status = 503


class Unauthorized(MlopsError):
    """Raised when the App needs a token and the request has none, or an invalid or revoked one."""

    code = "unauthorized"
    status = 401


class Forbidden(MlopsError):
    """Raised when a token is valid but its scope (read < write < admin) is too small."""

    code = "forbidden"
    status = 403


class StorageError(MlopsError):
    """Raised when the database refuses an operation for a reason of its own (a damaged page,
    an engine limit, a number it cannot hold): sending it again will not help. The message says
    what the database said; the App also writes it to its log."""

    code = "storage_error"
    status = 500


class MissingDependency(MlopsError, ImportError):
    """Raised by a function that needs an optional package (pandas for DataFrames) when it is
    not installed; the message names what to install. ``except ImportError`` catches it too."""

    code = "missing_dependency"
    status = 500


class Unavailable(MlopsError):
    """Raised when the store cannot be reached, is locked for too long, or is overloaded:
    the same request may succeed shortly (the App answers 503 with ``Retry-After``)."""

    code = "unavailable"
    status = 503
    retryable = True


ERRORS_BY_CODE: dict[str, type[MlopsError]] = {
    cls.code: cls
    for cls in (
        MlopsError,
        InvalidInput,
        QuerySyntaxError,
        QueryTimeout,
        TooLarge,
        UnsupportedMediaType,
        NotFound,
        AlreadyExists,
        NoActiveProject,
        IterationEnded,
        SchemaOutdated,
        Unauthorized,
        Forbidden,
        StorageError,
        MissingDependency,
        Unavailable,
    )
}
