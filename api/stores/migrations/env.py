"""Alembic's entry into the tip store's migrations; :mod:`api.stores.migrate` runs it.

It migrates the connection it is handed (in ``config.attributes``), inside the transaction that
connection holds, so the caller's lock covers the whole upgrade.
"""

from alembic import context

from api.stores.schema import metadata_for

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the store's migrations run through api.stores.migrate, on a connection")
backend = config.attributes["backend"]

context.configure(
    connection=connection,
    target_metadata=metadata_for(backend),
    version_table_schema=config.attributes.get("version_table_schema"),
    on_version_apply=config.attributes.get("on_version_apply", ()),
    render_as_batch=backend == "sqlite",  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
