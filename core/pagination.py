"""Page-number pagination with a client-chosen page size, capped so a page stays cheap."""

import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PageNumberPagination(pagination.PageNumberPagination):
    """`page_size` is a positive integer or a 400, as documented (DRF alone would quietly
    serve 20 results for `page_size=abc`); above 100 it gives 100. A `page` that does not
    exist (past the last, 0, not a number) is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()  # DRF's `page=last`: the schema says a page is a number

    def get_page_size(self, request: Request) -> int:
        size = _positive_int_param(request, self.page_size_query_param)
        return min(size or self.page_size or self.max_page_size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int | str:
        # DRF reads an empty `page=` as the first page; it names no page either.
        return request.query_params.get(self.page_query_param, 1)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


def _positive_int_param(request: Request, name: str) -> int | None:
    """A query parameter holding a positive integer; None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and raw.strip("0")):
        raise ValidationError({name: ["A positive integer is required."]})
    # Python refuses to parse very long numbers; any of them is more than 100 anyway.
    return int(raw) if len(raw) <= 18 else sys.maxsize


def paginated_response(
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer[Any]],
    context: dict[str, Any] | None = None,
) -> Response:
    """`{count, next, previous, results}` for the page of `queryset` that `request` asks for
    (its `page` and `page_size`)."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:  # DRF pages nothing only without a page size, and ours always has one
        raise ImproperlyConfigured("pagination needs a page size")
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data)
