"""`next_stream_positions(n)`: a block of consecutive positions in one statement."""

import pytest
from django.db import transaction

from core.stream import current_stream_position, next_stream_position, next_stream_positions


@pytest.mark.django_db
def test_a_block_of_positions_is_consecutive_and_follows_the_last_one():
    with transaction.atomic():
        before = next_stream_position()
        block = next_stream_positions(3)
        after = next_stream_position()
    assert list(block) == [before + 1, before + 2, before + 3]
    assert after == before + 4
    assert current_stream_position() == after


@pytest.mark.django_db(transaction=True)
def test_a_block_needs_a_transaction_and_a_positive_count():
    with pytest.raises(RuntimeError):
        next_stream_positions(2)
    with transaction.atomic(), pytest.raises(ValueError):
        next_stream_positions(0)
