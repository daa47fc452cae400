from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.events import user_deleted, user_registered, user_verified
        from contacts import receivers

        user_registered.connect(receivers.on_user_registered, dispatch_uid="contacts.on_user_registered")
        user_verified.connect(receivers.on_user_verified, dispatch_uid="contacts.on_user_verified")
        user_deleted.connect(receivers.on_user_deleted, dispatch_uid="contacts.on_user_deleted")
