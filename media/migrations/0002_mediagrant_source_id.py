# The source of a grant: the message or group message that granted it (media.models.MediaGrant).
#
# Alone in its migration: on PostgreSQL, ADD COLUMN of a nullable column without a default only
# touches the catalog (no table rewrite), but it takes an ACCESS EXCLUSIVE lock, held until its
# transaction commits. Committed here at once, it never blocks a read of media_grant while the
# indexes of 0003 are built.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('media', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='mediagrant',
            name='source_id',
            field=models.UUIDField(blank=True, null=True),
        ),
    ]
