"""Page-number pagination with a client-chosen page size, capped so a page stays cheap."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


def paginated_response(
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer[Any]],
    context: dict[str, Any] | None = None,
) -> Response:
    """`{count, next, previous, results}` for one page of `queryset`."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data)
