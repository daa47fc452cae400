"""Every media test stores into its own temporary folder, or its own S3 bucket with
`storage_kind` (tests/support/media.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_media_storage(media_storage):
    return media_storage
