# Grants become one row per (media, user, source): the uniqueness of (media, user) gives way to
# (source_id, media, user) for sourced rows and (media, user) for the rows without a source (NULLs
# never conflict in a unique index, on PostgreSQL as on SQLite, so they get their own partial one).
# Existing rows all have source_id NULL: each satisfies both new constraints as it stood under the
# old one, and keeps granting access (messaging's 0004 then gives them their sources).
#
# Order, for PostgreSQL: the new indexes are built first (CREATE INDEX takes a SHARE lock: reads
# of media_grant, the access checks, go on; grants being written wait), the old ones dropped last
# (DROP takes ACCESS EXCLUSIVE, held only for the moment until commit).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The single-column indexes Django made for the two foreign keys in 0001: media_id is covered by
# media_grant_media_user (media, user), user_id is a duplicate of media_grant_user. Dropped by
# name, as groups' 0002 does: AlterField(db_index=False) would also drop and re-create the
# foreign key constraints, and re-creating one validates every row of the table.
REDUNDANT_INDEXES = [
    ("media_grant_media_id_629419b3", "media_grant", "media_id"),
    ("media_grant_user_id_f30c5817", "media_grant", "user_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('media', '0002_mediagrant_source_id'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='mediagrant',
            index=models.Index(fields=['media', 'user'], name='media_grant_media_user'),
        ),
        migrations.AddConstraint(
            model_name='mediagrant',
            constraint=models.UniqueConstraint(condition=models.Q(('source_id__isnull', False)), fields=('source_id', 'media', 'user'), name='media_grant_source_unique'),
        ),
        migrations.AddConstraint(
            model_name='mediagrant',
            constraint=models.UniqueConstraint(condition=models.Q(('source_id__isnull', True)), fields=('media', 'user'), name='media_grant_unsourced_unique'),
        ),
        migrations.RemoveConstraint(
            model_name='mediagrant',
            name='media_grant_unique',
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='mediagrant',
                    name='media',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='grants', to='media.media'),
                ),
                migrations.AlterField(
                    model_name='mediagrant',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in REDUNDANT_INDEXES
            ],
        ),
    ]
