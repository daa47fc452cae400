"""Thumbnails with Pillow, bounded: an image whose header claims more pixels than the cap is
refused before a single pixel is decoded, so a small "decompression bomb" cannot eat the worker."""

from __future__ import annotations

import io
import warnings
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

THUMBNAIL_TYPE = "image/jpeg"


class ThumbnailRejected(Exception):
    """Not an image we will decode: over the pixel cap, unreadable, or truncated."""


def render_thumbnail(source: IO[bytes], *, max_pixels: int, max_side: int) -> bytes:
    """A JPEG at most `max_side` pixels on its longer side, or ThumbnailRejected."""
    with warnings.catch_warnings():
        # Pillow warns past Image.MAX_IMAGE_PIXELS and raises past twice that; both are bombs here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(source)  # lazy: reads the header, not the pixels
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                raise ThumbnailRejected(f"{width}x{height} is over the {max_pixels}-pixel cap")
            image.draft("RGB", (max_side, max_side))  # JPEG decodes straight at a reduced scale
            image = ImageOps.exif_transpose(image)
            image.thumbnail((max_side, max_side))
            if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                background = Image.new("RGB", image.size, (255, 255, 255))
                background.paste(image, mask=image.getchannel("A"))
                image = background
            elif image.mode != "RGB":
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=80, optimize=True)
            return out.getvalue()
        except ThumbnailRejected:
            raise
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            OSError,  # truncated or corrupt data
            SyntaxError,  # Pillow's parsers signal malformed headers this way
            ValueError,
            MemoryError,
        ) as exc:
            raise ThumbnailRejected(exc.__class__.__name__) from exc
