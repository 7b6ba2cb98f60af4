from django.urls import path

from listings import views

urlpatterns = [
    path("", views.home, name="home"),
    path("listings", views.browse, name="browse"),
    path("sell", views.dashboard, name="sell-dashboard"),
    path("sell/listings/new", views.listing_new, name="sell-listing-new"),
    path("sell/listings/<int:listing_id>/edit", views.listing_edit, name="sell-listing-edit"),
    path("sell/listings/<int:listing_id>/status", views.listing_status, name="sell-listing-status"),
    path(
        "sell/listings/<int:listing_id>/secrets",
        views.listing_secrets,
        name="sell-listing-secrets",
    ),
]
