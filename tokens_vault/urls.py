from django.urls import path

from tokens_vault import views

urlpatterns = [
    path("tokens", views.my_tokens, name="my-tokens"),
    path("tokens/<int:token_id>/reveal", views.token_reveal, name="token-reveal"),
    path("sell/tokens/<int:token_id>/revoke", views.token_revoke, name="sell-token-revoke"),
]
