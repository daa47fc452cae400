from django.contrib import admin

from media.models import Media, MediaGrant


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    list_display = ("id", "uploader", "file_type", "file_size", "state", "thumbnail_state", "created_at")
    list_filter = ("state", "thumbnail_state")
    search_fields = ("id", "sha256")
    raw_id_fields = ("uploader",)
    readonly_fields = ("object_key", "sha256", "file_size", "file_type", "created_at")


@admin.register(MediaGrant)
class MediaGrantAdmin(admin.ModelAdmin):
    list_display = ("media", "user", "source_id", "created_at")
    raw_id_fields = ("media", "user")
