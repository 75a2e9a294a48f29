"""Rescorings rewrite a lead's scores in place: no index on a column they change, room on each page."""

from django.db import migrations


def fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # Rows stored from now on leave the room; existing ones get it as they are rewritten.
            schema_editor.execute(f"ALTER TABLE scoring_leadscore SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0003_rules"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="leadscore",
            name="leadscore_org_priority",
        ),
        migrations.RunPython(fillfactor(50), fillfactor(100)),
    ]
