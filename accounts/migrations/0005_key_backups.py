"""key_backups: the passphrase-protected key backup of issue 18 (GET/PUT/DELETE /keys/backup), one
opaque blob per user."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_search_ranked_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='KeyBackup',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='key_backup', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('blob', models.BinaryField()),
                ('kdf', models.CharField(blank=True, default='', max_length=1024)),
                ('version', models.PositiveIntegerField()),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'db_table': 'key_backups',
            },
        ),
    ]
