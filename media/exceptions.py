from core.exceptions import ApplicationError, NotFound, PayloadTooLarge, ServiceUnavailable


class MediaNotOwned(ApplicationError):
    """An attachment id that is unknown or was not uploaded by the sender: 400."""

    default_code = "invalid_attachment"
    default_message = "Attachments must be media you uploaded."


class MediaNotFound(NotFound):
    default_code = "media_not_found"
    default_message = "Media not found."


class MediaTooLarge(PayloadTooLarge):
    default_code = "media_too_large"
    default_message = "The file is larger than allowed."


class InvalidUpload(ApplicationError):
    """A malformed multipart body (an unexpected file field, say): 400."""

    default_code = "invalid_upload"
    default_message = "The upload is not valid."


class UploadIncomplete(ApplicationError):
    """A direct upload's "complete" call found no object, or one of the wrong size or checksum."""

    default_code = "upload_incomplete"
    default_message = "The uploaded object does not match what was announced."


class DirectUploadUnavailable(ApplicationError):
    """Direct-to-storage uploads need S3 storage; the local filesystem cannot presign a PUT."""

    default_code = "direct_upload_unavailable"
    default_message = "Direct uploads are not available on this server; use POST /media/upload."


class StorageUnavailable(ServiceUnavailable):
    """The object storage did not answer (or failed): nothing was recorded; try again."""

    default_code = "storage_unavailable"
    default_message = "Media storage is unavailable; try again shortly."


class SpoolFull(StorageUnavailable):
    """The server's upload spool (its temporary directory) is full or refuses writes: a 503 the
    client retries later, as for storage down; a full disk rarely clears within a second."""

    default_message = "The server cannot take uploads right now; try again shortly."
    default_retry_after = 10
