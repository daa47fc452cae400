from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    label = "realtime"

    def ready(self) -> None:
        from accounts.events import access_revoked
        from realtime.receivers import close_revoked_sockets

        access_revoked.connect(close_revoked_sockets, dispatch_uid="realtime.close_revoked_sockets")
