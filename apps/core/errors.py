"""Errors raised by services; the API, pages and admin turn them into clear 4xx answers."""
from __future__ import annotations


class ServiceError(Exception):
    """Base: a request that cannot be carried out. `status` is the HTTP status to answer."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message}


class InvalidInput(ServiceError):
    """Bad input; `errors` maps each field at fault to its messages."""

    def __init__(self, errors: dict):
        first = next(iter(errors.items()), ("detail", ["invalid input"]))
        super().__init__(f"{first[0]}: {first[1]}")
        self.errors = errors

    def as_dict(self) -> dict:
        return self.errors


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    """The object is in a state that does not allow the request (e.g. cancel a finished job)."""

    status = 409
