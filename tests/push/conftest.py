from tests.db.fixtures import database, engine, postgres_database, postgres_url
from tests.wxapi.conftest import make_client, memory_store

__all__ = ["database", "engine", "make_client", "memory_store", "postgres_database", "postgres_url"]
