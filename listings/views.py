"""Pages for people: browse listings (the rest of the pages arrive with issue #4)."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from listings.forms import ListingBrowseForm
from listings.selectors import BrowseFilters, listing_browse

PAGE_SIZE = 20


def browse(request: HttpRequest) -> HttpResponse:
    form = ListingBrowseForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else BrowseFilters()
    listings = listing_browse(viewer=request.user, filters=filters)
    page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "listings/browse.html", {"form": form, "page": page})


def _todo(*args, **kwargs):
    raise Http404


home = detail = dashboard = listing_new = listing_edit = listing_status = listing_secrets = _todo
