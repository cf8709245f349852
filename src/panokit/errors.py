"""The one error tree of panokit.

Every error raised on purpose by panokit derives from :class:`PanokitError` and also from
the built-in exception a caller would naturally catch (``ValueError``,
``FileNotFoundError`` ...), so ``except ValueError`` keeps working.  Messages say what
failed, where (file, sample, segment), what was expected and what was found.

This module imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence


class PanokitError(Exception):
    """Root of every error panokit raises on purpose."""


class FormatError(PanokitError, ValueError):
    """A file or folder does not follow the format it claims to be in."""


class MissingFileError(PanokitError, FileNotFoundError):
    """A file the format requires is absent."""


class OutputExistsError(PanokitError, FileExistsError):
    """A writer was asked to write where something already exists."""


class UnknownFormatError(PanokitError, ValueError):
    """A format name is not in the registry."""


class FormatNotImplementedError(PanokitError, NotImplementedError):
    """A format is planned (listed) but has no reader or writer yet."""


class TaxonomyError(PanokitError, ValueError):
    """A category is unknown, duplicated or inconsistent with the taxonomy."""


class LabelError(PanokitError, ValueError):
    """A label array or segment table is malformed (cheap check on construction)."""


class ValidationError(PanokitError, ValueError):
    """A full consistency check found problems; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[str], where: str = "") -> None:
        self.problems: list[str] = list(problems)
        self.where = where
        head = f"{where}: " if where else ""
        if len(self.problems) == 1:
            message = f"{head}{self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{head}{len(self.problems)} problems:\n{lines}"
        super().__init__(message)


class EvaluationError(PanokitError, ValueError):
    """Ground truth and prediction cannot be evaluated together."""


class ServiceError(PanokitError):
    """Base of the errors a labeling server reports; ``details`` is JSON-ready context."""

    code = "service_error"

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, object] = dict(details or {})


class NotFoundError(ServiceError, LookupError):
    """A user, dataset, sample, label or job does not exist (or is not visible to you)."""

    code = "not_found"


class AuthenticationError(ServiceError, PermissionError):
    """No valid credentials: a missing, wrong or revoked token or password."""

    code = "unauthenticated"


class PermissionDeniedError(ServiceError, PermissionError):
    """The caller is known but their role does not allow the operation."""

    code = "permission_denied"


class ConflictError(ServiceError, RuntimeError):
    """The operation conflicts with the current state (a stale revision, a taken name)."""

    code = "conflict"


class InvalidRequestError(ServiceError, ValueError):
    """A request is well-formed but its content is not acceptable (bad image, bad state)."""

    code = "invalid"


class PayloadTooLargeError(ServiceError, ValueError):
    """An upload is larger than the server accepts."""

    code = "too_large"


class RemoteError(ServiceError, RuntimeError):
    """The server failed in a way the client cannot map onto a known error."""

    code = "remote_error"


class MissingExtraError(PanokitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the package '{package}' is needed{what} but is not installed; "
            f"install it with: pip install 'panokit[{extra}]'"
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str = "") -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised by the isolation test
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc
