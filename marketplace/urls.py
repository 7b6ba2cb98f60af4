"""Pages (one urls.py per app), the admin, the API under /api/v1/, health probes."""

from django.contrib import admin
from django.urls import include, path

from core import api, health

urlpatterns = [
    # First: Django tries patterns in order, and API requests are the most frequent (placed
    # last, every API request would first be tried against each page pattern).
    path("api/v1/", include(("marketplace.api_urls", "api"))),
    path("", include("listings.urls")),
    path("", include("accounts.urls")),
    path("", include("orders.urls")),
    path("", include("tokens_vault.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

# Errors raised outside DRF's views: JSON under /api/, Django's pages elsewhere.
handler400 = api.bad_request
handler403 = api.permission_denied
handler404 = api.page_not_found
handler500 = api.server_error
