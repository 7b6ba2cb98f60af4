from django.contrib import admin
from django.urls import include, path

from listings import views as listing_views
from marketplace import health
from orders import views as order_views

urlpatterns = [
    path("", listing_views.browse, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("marketplace.api_urls", "api"))),
    path("checkout/<str:token>/pay", order_views.dev_checkout, name="checkout-dev"),
    path("checkout/<str:token>/success", order_views.checkout_success, name="checkout-success"),
    path("checkout/<str:token>/cancel", order_views.checkout_cancel, name="checkout-cancel"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
