"""The API's single error path: domain errors and stray Django errors become JSON responses,
documented in the OpenAPI schema as they are rendered. Request bodies refuse what they do not
define."""

import sys
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, InvalidInput, ServiceUnavailable, Throttled

# Seconds a client is told to wait (`Retry-After`) when a dependency is down.
UNAVAILABLE_RETRY_AFTER = 5
UNAVAILABLE_DETAIL = "Temporarily unavailable. Try again shortly."


def error_body(detail: Any, code: str | None = None) -> dict[str, Any]:
    """The body of every API error but a field error: the one place its shape is written."""
    return {"detail": detail} if code is None else {"detail": detail, "code": code}


def error_response(
    status_code: int, detail: Any, code: str | None = None, retry_after: int | None = None
) -> JsonResponse:
    """An API error answered outside a DRF view (no negotiation: always JSON)."""
    response = JsonResponse(error_body(detail, code), status=status_code)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    _render_errors_as_json(context.get("request"))
    if isinstance(exc, InvalidInput) and exc.field:
        return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        headers = None
        if isinstance(exc, Throttled):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, ServiceUnavailable):
            headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
        return Response(error_body(exc.message, exc.code), status=exc.status_code, headers=headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=_django_validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)


def _render_errors_as_json(request: Request | None) -> None:
    """An error is JSON even from a view that renders something else (the schema's YAML, the
    docs page); only a client that asked for the browsable API gets its HTML page."""
    if request is not None and not isinstance(
        getattr(request, "accepted_renderer", None), BrowsableAPIRenderer
    ):
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"non_field_errors": exc.messages}


class InputSerializer(serializers.Serializer[Any]):
    """A request body: a field it does not define, or a value of another JSON type than
    documented, is a 400, never ignored or converted.

    A client sending `available_units` where the API takes `units`, the number 0 as a name
    or the string "3" as a count should learn at once that its request was not understood,
    rather than read a 200 and believe it was.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                if name in data and (message := _wrong_json_type(field, data[name])):
                    errors[name] = [message]
            if errors:
                raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


def _wrong_json_type(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    """Why `value` is not of the JSON type the schema documents for `field` (None: it is, or
    the field's own validation decides, as for null)."""
    if value is None:
        return None
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        return next(filter(None, (_wrong_json_type(field.child, item) for item in value)), None)
    if isinstance(field, serializers.CharField | serializers.DecimalField):
        return None if isinstance(value, str) else "Not a valid string."
    if isinstance(field, serializers.IntegerField) and isinstance(value, str):
        return "A valid integer is required."
    return None


class InputSerializerSchema(OpenApiSerializerExtension):
    """The schema says what `InputSerializer` enforces: no properties but the documented ones."""

    target_class = InputSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        # drf-spectacular's documented way for an extension to start from the plain mapping.
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


def validated(serializer_class: type[InputSerializer], request: Request) -> Any:
    """The request body checked by `serializer_class`; a 400 with field errors otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other path under /api/v1/ (an id that is not a number, a stray trailing slash):
    the API's JSON 404, not the site's HTML page."""
    return error_response(404, exceptions.NotFound.default_detail)


# --- Errors raised outside DRF's views (Django's handler400/403/404/500) ---------------------
#
# Under /api/ they answer JSON in the API's error shape, whatever the Accept header; pages keep
# Django's defaults. They are the last resort of every request, so they do nothing that could
# fail: no database, no template, no cache.


def _api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refused before any view could (body over DATA_UPLOAD_MAX_MEMORY_SIZE,
    too many parameters, a Host not in ALLOWED_HOSTS, a malformed multipart body)."""
    if not _api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        detail = "The request body is too large."
    elif isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        detail = "Too many parameters."
    elif isinstance(exception, DisallowedHost):
        detail = "Invalid Host header."
    else:
        detail = "Bad request."
    return error_response(400, detail)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _api(request):
        return defaults.permission_denied(request, exception)
    return error_response(403, exceptions.PermissionDenied.default_detail)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Under /api/: paths outside /api/v1/ (which answers its own 404s, see `not_found`)."""
    if not _api(request):
        return defaults.page_not_found(request, exception)
    return error_response(404, exceptions.NotFound.default_detail)


def server_error(request: HttpRequest) -> HttpResponse:
    """An exception no view handled, from a view, a middleware or a response's rendering.

    Django logs it with its traceback (the `django.request` logger: the line carries the
    request id) and the body says nothing of it. A database that cannot be reached, timed out
    or dropped the connection is a 503 the client may retry."""
    if not _api(request):
        return defaults.server_error(request)
    # Django calls this while handling the exception, which is how it can be known here.
    if isinstance(sys.exception(), OperationalError | InterfaceError):
        return error_response(503, UNAVAILABLE_DETAIL, "unavailable", UNAVAILABLE_RETRY_AFTER)
    return error_response(500, exceptions.APIException.default_detail, "server_error")


# --- How errors are documented in the OpenAPI schema ------------------------------------------


class ErrorSerializer(serializers.Serializer[Any]):
    """Every refusal but a field error: a message, and for the marketplace's own rules a code."""

    detail = serializers.CharField()
    code = serializers.CharField(
        required=False,
        help_text="Which rule refused the request (e.g. `insufficient_units`, `throttled`); "
        "absent on the framework's own errors (authentication, permission, not found).",
    )


class ValidationErrorSerializer(serializers.Serializer[Any]):
    """The 400 body; its schema is written by `ValidationErrorSchema` below."""


class ValidationErrorSchema(OpenApiSerializerExtension):
    """`{field: [messages]}` (a list field's items by position, `{"secrets": {"0": [...]}}`),
    or `{detail, code}` when a rule refuses the input as a whole."""

    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        messages = {"type": "array", "items": {"type": "string"}}
        return {
            "type": "object",
            "description": "Each field that was wrong (or `non_field_errors`) with its "
            "messages; a rule that refuses the input as a whole answers `detail` and `code`.",
            "additionalProperties": {
                "anyOf": [
                    messages,
                    {"type": "object", "additionalProperties": messages},
                    {"type": "string"},
                ]
            },
        }


ERROR_DESCRIPTIONS = {
    400: "Invalid input: field errors, or `detail` saying why the body is not JSON as "
    "documented (nested too deep, a duplicate name, a number out of range...).",
    401: "No session, or an invalid, expired or revoked one.",
    403: "Not allowed for this user (or a cookie session without its CSRF token).",
    404: "Unknown, or not visible to this user.",
    409: "The marketplace's state refuses the request; `code` says why.",
    415: "The body is not JSON.",
    429: "Too many requests (API_RATE_LIMIT, or failed logins); the `Retry-After` header "
    "gives the seconds until the window ends.",
    502: "The payment provider refused the request; nothing changed.",
    503: "Temporarily unavailable; nothing changed. Try again shortly.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, as the exception handler above renders them, for
    `extend_schema(responses={200: X, **error_responses(401, 404)})`. 429 is always among
    them: every API view is rate limited."""
    return {
        code: OpenApiResponse(
            ValidationErrorSerializer if code == 400 else ErrorSerializer,
            description=ERROR_DESCRIPTIONS[code],
        )
        for code in sorted({*codes, 429})
    }
