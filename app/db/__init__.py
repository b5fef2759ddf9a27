"""The database: SQLAlchemy 2 models, the engine factory, migrations and tickets (issue 5)."""
