"""The error codes of the one error body, shared by the server (exception -> status, code)
and the SDK (code -> exception), so both sides read one table."""

from __future__ import annotations

from panokit.errors import (
    AuthenticationError,
    ConflictError,
    FormatError,
    FormatNotImplementedError,
    InvalidRequestError,
    LabelError,
    MissingExtraError,
    NotFoundError,
    PanokitError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TaxonomyError,
    UnknownFormatError,
    ValidationError,
)

WIRE_ERRORS: tuple[tuple[type[PanokitError], int, str], ...] = (
    (NotFoundError, 404, NotFoundError.code),
    (AuthenticationError, 401, AuthenticationError.code),
    (PermissionDeniedError, 403, PermissionDeniedError.code),
    (ConflictError, 409, ConflictError.code),
    (PayloadTooLargeError, 413, PayloadTooLargeError.code),
    (InvalidRequestError, 422, InvalidRequestError.code),
    (ValidationError, 422, "validation_error"),
    (LabelError, 422, "label_error"),
    (TaxonomyError, 422, "taxonomy_error"),
    (UnknownFormatError, 422, "unknown_format"),
    (FormatNotImplementedError, 422, "format_not_implemented"),
    (FormatError, 422, "format_error"),
    (MissingExtraError, 501, "missing_extra"),
)
"""Library error class -> (HTTP status, wire code); the first match wins, so a subclass
comes before its base."""
