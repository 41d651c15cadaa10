"""Alembic revisions of the server's schema, shipped as package data and applied on start."""
