from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py demo`: demo data across every app, so it sits on top of them all."""

    name = "demo"
    label = "demo"
    verbose_name = "Demo data"
