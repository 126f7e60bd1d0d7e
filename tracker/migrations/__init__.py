"""Alembic migrations: the one source of the database schema. `tracker db upgrade` applies them."""
