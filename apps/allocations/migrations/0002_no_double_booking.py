"""PostgreSQL refuses two holding bookings of one GPU whose [start, end) overlap: an exclusion
constraint over (gpu, tstzrange(start, end)) for rows with holds = true; btree_gist lets the
gist index compare the GPU id with '='. SQLite has no such constraint: apps/allocations/booking.py
serializes bookings in the process there."""
from django.db import migrations

CREATE = """
ALTER TABLE allocations_allocationgpu ADD CONSTRAINT allocgpu_no_overlap
    EXCLUDE USING gist (gpu_id WITH =, tstzrange("start", "end", '[)') WITH &&) WHERE (holds)
"""
DROP = "ALTER TABLE allocations_allocationgpu DROP CONSTRAINT IF EXISTS allocgpu_no_overlap"


class BtreeGistExtension(migrations.RunSQL):
    """CREATE EXTENSION btree_gist on PostgreSQL (a trusted extension: the database owner may);
    nothing elsewhere."""

    def __init__(self):
        super().__init__("CREATE EXTENSION IF NOT EXISTS btree_gist", migrations.RunSQL.noop)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)


class PostgresOnlySQL(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("allocations", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        PostgresOnlySQL(CREATE, DROP),
    ]
