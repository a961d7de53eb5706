"""The one SQLite file that holds models, chats, comparisons, trials and settings."""

from workbench.store.db import open_database, schema_version

__all__ = ["open_database", "schema_version"]
