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
