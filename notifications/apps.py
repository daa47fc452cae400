from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.metrics import register_scrape_gauge

        register_scrape_gauge(
            "messenger_outbox_emails",
            "Emails in the outbox by status: pending (not sent yet) and failed (given up on).",
            ["status"],
            _outbox_counts,
        )


def _outbox_counts() -> list[tuple[list[str], float]]:
    """One indexed aggregate per scrape (outbox_status_created_idx)."""
    from django.db.models import Count

    from notifications.models import OutboundEmail

    shown = (OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED)
    counts = dict(
        OutboundEmail.objects.filter(status__in=shown)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [([str(status)], float(counts.get(status, 0))) for status in shown]
