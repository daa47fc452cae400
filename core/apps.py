from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import metrics

        metrics.connect_celery_signals()
