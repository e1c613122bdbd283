"""The migrations make exactly the schema the models describe, on SQLite and on PostgreSQL: several
branches were written side by side, and a model changed without its migration (or the other way) is
found here rather than by the first query that needs the difference."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from supply.db.models import Base


def test_the_migrated_schema_is_the_models_schema(database):
    with database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == []


def test_the_migrations_have_one_head_and_the_database_is_at_it(database, database_url):
    heads = ScriptDirectory.from_config(migrations.alembic_config(database_url)).get_heads()
    assert len(heads) == 1
    with database.engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == set(heads)
