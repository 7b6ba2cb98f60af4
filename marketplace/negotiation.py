"""DRF's content negotiation, with its choice of renderer remembered per Accept header.

Parsing the Accept header and matching it against the view's renderers cost ~30 µs of CPU on
every API response (2.5% of a purchase, measured in-process), yet the answer depends only on
the header, the format asked for in the URL and the renderers the view offers, and clients
send a handful of distinct headers. The remembered choices are bounded, so a client sending
ever-new headers costs only the negotiation it would have cost anyway.
"""

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

MAX_REMEMBERED = 256

# (Accept header, format suffix, ?format=, renderer classes) -> (renderer's index, media type)
_choices: dict[tuple[Any, ...], tuple[int, str]] = {}


class RememberedContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)  # DRF passes the view's list
        key = (
            request.META.get("HTTP_ACCEPT"),
            format_suffix,
            request.query_params.get(self.settings.URL_FORMAT_OVERRIDE),
            tuple(type(renderer) for renderer in renderers),
        )
        choice = _choices.get(key)
        if choice is None:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            choice = (renderers.index(renderer), media_type)
            if len(_choices) < MAX_REMEMBERED:
                _choices[key] = choice
        index, media_type = choice
        return renderers[index], media_type
