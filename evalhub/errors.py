"""One exception type for invalid input, rendered by every surface in its own envelope.

Services, metric argument checks and importers raise :class:`InvalidInput`; the
native API, the pages and each compatibility adapter turn it into their own
error body and status code. Keeping the field and the reason as data (not as a
pre-formatted string) is what lets seed 004 say "400, unknown arg" while the
page shows the same message beside the right form field.
"""

from __future__ import annotations


class InvalidInput(Exception):
    """A request that cannot be carried out as asked.

    ``field`` names what was wrong (``"metric_args.1.ignore_order"``,
    ``"line 17"``), ``code`` is a stable machine word (``"unknown_argument"``),
    ``status`` the HTTP status the native API answers with; compatibility
    adapters map ``code`` to their own statuses.
    """

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "invalid",
        status: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        if status is not None:
            self.status = status

    def as_dict(self) -> dict:
        data = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        return data

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class NotFound(InvalidInput):
    status = 404

    def __init__(self, message: str, *, field: str | None = None, code: str = "not_found"):
        super().__init__(message, field=field, code=code)


class PermissionDenied(InvalidInput):
    status = 403

    def __init__(self, message: str, *, field: str | None = None, code: str = "forbidden"):
        super().__init__(message, field=field, code=code)


class Conflict(InvalidInput):
    status = 409

    def __init__(self, message: str, *, field: str | None = None, code: str = "conflict"):
        super().__init__(message, field=field, code=code)


class BudgetExceeded(InvalidInput):
    status = 402

    def __init__(self, message: str, *, field: str | None = None, code: str = "budget_exceeded"):
        super().__init__(message, field=field, code=code)
