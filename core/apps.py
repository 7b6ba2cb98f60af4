from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """The kernel, installed for one thing: the job schedules follow the settings."""

    name = "core"

    def ready(self) -> None:
        from core.jobs import schedules_sync

        # Sent once per migrate for the app that owns the schedules' table (Django sends it
        # only for apps with models, which the kernel has none of).
        post_migrate.connect(schedules_sync, sender=apps.get_app_config("django_q"))
