from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "messenger.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from messenger.core import metrics

        metrics.connect_celery_signals()
