from messenger.core.exceptions import ApplicationError


class MediaNotOwned(ApplicationError):
    """An attachment id that is unknown or was not uploaded by the sender: 400."""

    default_code = "invalid_attachment"
    default_message = "Attachments must be media you uploaded."
