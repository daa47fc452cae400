from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "messenger.realtime"
    label = "realtime"
