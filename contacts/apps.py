from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.events import user_deleted, user_registered, user_verified
        from accounts.selectors import register_activity_rule
        from contacts import receivers, selectors

        # Who may see whose last_seen: accepted contacts (accounts renders users, we own the rule).
        register_activity_rule(selectors.accepted_contact_exists)

        user_registered.connect(receivers.on_user_registered, dispatch_uid="contacts.on_user_registered")
        user_verified.connect(receivers.on_user_verified, dispatch_uid="contacts.on_user_verified")
        user_deleted.connect(receivers.on_user_deleted, dispatch_uid="contacts.on_user_deleted")
