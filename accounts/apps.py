from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from accounts.moderation import moderator_group_sync  # models load after ready()

        # After every migrate (and the test runner's flush, which empties the table), the
        # moderator group exists with exactly its permissions, as Django does for permissions.
        post_migrate.connect(moderator_group_sync, sender=self)
