"""A service refusal shown on a page: one message per field message for invalid input."""
from django.contrib import messages

from .errors import InvalidInput, ServiceError


def report_service_error(request, exc: ServiceError) -> None:
    if isinstance(exc, InvalidInput):
        for field, errors in exc.errors.items():
            for error in errors:
                messages.error(request, error if field == "detail" else f"{field}: {error}")
    else:
        messages.error(request, exc.message)
