# The grants made before grants had sources (media's 0002 and 0003) get them: each legacy grant
# (media, user, source NULL) becomes one row per message that still carries that media to that
# user, so deleting one of them for everyone takes back exactly its share (media.services.
# revoke_media_access).
#
# - A 1:1 message sent to the user, not deleted for everyone, with the media in attachment_ids.
# - A group message with the media in attachment_ids for which the user holds a wrapped key: the
#   keys are exactly the members it was sent to, and so exactly the grantees of its send.
# - What is left without a source is dropped: a grant whose messages were all deleted for
#   everyone, or whose group was deleted, is the leak this change fixes, and goes now rather than
#   never. Nothing else ever made grants (messaging and groups are media's only callers).
#
# Only existing grants are given sources; none is created for a pair that has none (the grants of
# a deleted account are gone, and stay gone). It lives in messaging, the app above both messaging
# and groups, so that media keeps knowing nothing of either; it reads their tables through the
# historical models and writes media's table in one statement per step, on PostgreSQL and SQLite.
#
# On PostgreSQL the table is locked in SHARE ROW EXCLUSIVE mode for the duration: reads (every
# access check) go on, grants being written by a concurrent send wait, so none can slip between
# the conversion and the removal of what was left. Reversible: back to one sourceless row per
# (media, user) still granted.

from django.db import migrations

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _tables(apps, schema_editor):
    quote = schema_editor.quote_name
    return {
        "grant": quote(apps.get_model("media", "MediaGrant")._meta.db_table),
        "message": quote(apps.get_model("messaging", "Message")._meta.db_table),
        "group_message": quote(apps.get_model("groups", "GroupMessage")._meta.db_table),
        "key": quote(apps.get_model("groups", "GroupMessageKey")._meta.db_table),
    }


def _postgresql_statements(t):
    # Each message's attachments are listed first (MATERIALIZED: one scan of the messages, one row
    # per attachment, its media id a real uuid column), then matched to the legacy grants on
    # (media_id, user_id): a hash or index join the planner can estimate, instead of a join on a
    # per-row cast it cannot, which it may drive from the grants side, once per grant. An element
    # that is not a UUID (there should be none) is skipped instead of failing the cast.
    attachments = (
        "jsonb_array_elements_text(CASE WHEN jsonb_typeof({0}.attachment_ids) = 'array' "
        "THEN {0}.attachment_ids ELSE '[]'::jsonb END) AS a(value)"
    )
    return [
        (f"LOCK TABLE {t['grant']} IN SHARE ROW EXCLUSIVE MODE", []),
        (
            "WITH attached AS MATERIALIZED ("
            "SELECT m.id AS source_id, m.recipient_id AS user_id, a.value::uuid AS media_id "
            f"FROM {t['message']} m CROSS JOIN LATERAL {attachments.format('m')} "
            "WHERE m.deleted_at IS NULL AND m.attachment_ids <> '[]'::jsonb AND a.value ~ %s) "
            f"INSERT INTO {t['grant']} (media_id, user_id, source_id, created_at) "
            "SELECT g.media_id, g.user_id, x.source_id, g.created_at FROM attached x "
            f"JOIN {t['grant']} g ON g.source_id IS NULL AND g.media_id = x.media_id AND g.user_id = x.user_id "
            "ON CONFLICT DO NOTHING",
            [UUID_PATTERN],
        ),
        (
            "WITH attached AS MATERIALIZED ("
            "SELECT gm.id AS source_id, a.value::uuid AS media_id "
            f"FROM {t['group_message']} gm CROSS JOIN LATERAL {attachments.format('gm')} "
            "WHERE gm.attachment_ids <> '[]'::jsonb AND a.value ~ %s) "
            f"INSERT INTO {t['grant']} (media_id, user_id, source_id, created_at) "
            "SELECT g.media_id, g.user_id, x.source_id, g.created_at FROM attached x "
            f"JOIN {t['key']} k ON k.message_id = x.source_id "
            f"JOIN {t['grant']} g ON g.source_id IS NULL AND g.media_id = x.media_id AND g.user_id = k.user_id "
            "ON CONFLICT DO NOTHING",
            [UUID_PATTERN],
        ),
        (f"DELETE FROM {t['grant']} WHERE source_id IS NULL", []),
    ]


def _sqlite_statements(t):
    # UUIDs are 32 hex characters there; attachment_ids holds str(uuid) (hyphenated, lower case).
    # CROSS JOIN fixes SQLite's join order: messages, their attachments, then an index lookup of
    # the grant on (media_id, user_id).
    media_id = "lower(replace(a.value, '-', ''))"
    return [
        (
            f"INSERT OR IGNORE INTO {t['grant']} (media_id, user_id, source_id, created_at) "
            f"SELECT g.media_id, g.user_id, m.id, g.created_at FROM {t['message']} m "
            "CROSS JOIN json_each(m.attachment_ids) AS a "
            f"CROSS JOIN {t['grant']} g ON g.source_id IS NULL AND g.media_id = {media_id} "
            "AND g.user_id = m.recipient_id "
            "WHERE m.deleted_at IS NULL AND json_type(m.attachment_ids) = 'array' AND a.type = 'text'",
            [],
        ),
        (
            f"INSERT OR IGNORE INTO {t['grant']} (media_id, user_id, source_id, created_at) "
            f"SELECT g.media_id, g.user_id, gm.id, g.created_at FROM {t['group_message']} gm "
            "CROSS JOIN json_each(gm.attachment_ids) AS a "
            f"CROSS JOIN {t['key']} k ON k.message_id = gm.id "
            f"CROSS JOIN {t['grant']} g ON g.source_id IS NULL AND g.media_id = {media_id} "
            "AND g.user_id = k.user_id "
            "WHERE json_type(gm.attachment_ids) = 'array' AND a.type = 'text'",
            [],
        ),
        (f"DELETE FROM {t['grant']} WHERE source_id IS NULL", []),
    ]


def give_grants_their_sources(apps, schema_editor):
    t = _tables(apps, schema_editor)
    vendor = schema_editor.connection.vendor
    statements = _postgresql_statements(t) if vendor == "postgresql" else _sqlite_statements(t)
    with schema_editor.connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def back_to_one_grant_per_pair(apps, schema_editor):
    t = _tables(apps, schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        insert, no_source, conflict = "INSERT INTO", "NULL::uuid", " ON CONFLICT DO NOTHING"
    else:
        insert, no_source, conflict = "INSERT OR IGNORE INTO", "NULL", ""
    with schema_editor.connection.cursor() as cursor:
        # One row per pair (GROUP BY), into a table where sourceless rows are unique per pair.
        cursor.execute(
            f"{insert} {t['grant']} (media_id, user_id, source_id, created_at) "
            f"SELECT media_id, user_id, {no_source}, MIN(created_at) FROM {t['grant']} "
            f"WHERE source_id IS NOT NULL GROUP BY media_id, user_id{conflict}"
        )
        cursor.execute(f"DELETE FROM {t['grant']} WHERE source_id IS NOT NULL")


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0003_message_position_unique'),
        ('groups', '0002_drop_redundant_fk_indexes'),
        ('media', '0003_mediagrant_source_indexes'),
    ]

    operations = [
        migrations.RunPython(give_grants_their_sources, back_to_one_grant_per_pair),
    ]
