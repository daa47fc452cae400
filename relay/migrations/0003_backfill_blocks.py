"""Backfill relay's replica of blocks (relay_blocks) from contacts' blocked pairs.

No dependency on contacts' migrations, on purpose: a relay-only process (messenger.relay_service)
migrates relay without contacts installed. Where contacts is installed and already migrated (an
existing deployment, the only place a block can exist), its historical model is in the state
and its blocked rows are copied; where it is not (the relay alone, or a fresh database migrating
relay first), there is nothing to copy. From here on contacts' block services keep the replica.
"""

from django.db import migrations


def copy_blocks(apps, schema_editor):
    try:
        Contact = apps.get_model("contacts", "Contact")
    except LookupError:
        return
    Block = apps.get_model("relay", "Block")
    rows = (
        Contact.objects.using(schema_editor.connection.alias)
        .filter(status="blocked", blocked_by__isnull=False)
        .values_list("requester_id", "addressee_id", "blocked_by_id")
        .iterator(chunk_size=2000)
    )
    batch = []
    for requester, addressee, blocker in rows:
        blocked = addressee if blocker == requester else requester
        batch.append(Block(blocker_id=blocker, blocked_id=blocked))
        if len(batch) >= 2000:
            Block.objects.using(schema_editor.connection.alias).bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        Block.objects.using(schema_editor.connection.alias).bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("relay", "0002_blocks_and_sender_share"),
    ]

    operations = [
        migrations.RunPython(copy_blocks, migrations.RunPython.noop, elidable=True),
    ]
