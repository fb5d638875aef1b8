"""Persistence: SQLAlchemy tables, Alembic migrations and repositories.

Heavy (imports SQLAlchemy): the agent never imports this package.
"""
