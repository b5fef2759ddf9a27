from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.db.engine import make_engine, normalise_url


def test_bare_postgres_urls_get_the_psycopg3_driver() -> None:
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_urls_with_a_driver_or_other_backends_are_unchanged() -> None:
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///./data/wxbot.db") == "sqlite:///./data/wxbot.db"


def test_sqlite_file_parent_directory_is_created(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'wxbot.db'}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert (tmp_path / "nested" / "dir" / "wxbot.db").exists()
    engine.dispose()


def test_sqlite_files_use_wal_so_readers_do_not_block_the_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wxbot.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    import threading

    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))

    def insert() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    worker = threading.Thread(target=insert)
    worker.start()
    worker.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    engine.dispose()
