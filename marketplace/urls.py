from django.contrib import admin
from django.urls import include, path

from listings import views as listing_views
from marketplace import health

urlpatterns = [
    path("", listing_views.browse, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("marketplace.api_urls", "api"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
