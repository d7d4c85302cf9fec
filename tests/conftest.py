"""Shared test set-up: real servers (Dovecot, SMTP) and real databases (SQLite, PostgreSQL)."""

pytest_plugins = ["tests.servers", "tests.dbs"]
