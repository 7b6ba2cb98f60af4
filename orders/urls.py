from django.urls import path

from orders import views

urlpatterns = [
    # The listing page with orders' buy form (listings renders it; orders composes it).
    path("listings/<int:listing_id>", views.listing_detail, name="listing-detail"),
    path("listings/<int:listing_id>/buy", views.buy, name="buy"),
    path("orders", views.my_orders, name="my-orders"),
    path("orders/<int:order_id>", views.order_detail, name="order-detail"),
    path("orders/<int:order_id>/cancel", views.order_cancel, name="order-cancel"),
    path("sell/sales", views.sales, name="sell-sales"),
    path("checkout/<str:token>/pay", views.dev_checkout, name="checkout-dev"),
    path("checkout/<str:token>/success", views.checkout_success, name="checkout-success"),
    path("checkout/<str:token>/cancel", views.checkout_cancel, name="checkout-cancel"),
]
