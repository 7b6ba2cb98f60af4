from django.apps import AppConfig


class TokensVaultConfig(AppConfig):
    name = "tokens_vault"
    verbose_name = "Token vault"
