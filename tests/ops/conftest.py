from tests.db.fixtures import database, engine, postgres_database, postgres_url

__all__ = ["database", "engine", "postgres_database", "postgres_url"]
