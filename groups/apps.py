from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Chat groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from groups import receivers

        receivers.connect()
