"""The throw-away PostgreSQL databases of the benchmarks: created empty, dropped afterwards."""

from __future__ import annotations

import sys
from urllib.parse import urlparse, urlunparse


def admin_url(server_url: str) -> str:
    """`server_url` as psycopg takes it (a PostgreSQL server, or stop with a message)."""
    parsed = urlparse(server_url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("DATABASE_URL must point to a PostgreSQL server (postgres://...).")
    return urlunparse(parsed._replace(scheme="postgresql"))


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server of `server_url`; return its URL."""
    import psycopg
    from psycopg import sql

    admin = admin_url(server_url)
    if urlparse(admin).path.strip("/") == name:
        sys.exit(f"DATABASE_URL must name another database than the throw-away {name!r}.")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunparse(urlparse(server_url)._replace(path="/" + name))


def drop_database(server_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url(server_url), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_exists(server_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url(server_url), autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def copy_database(server_url: str, source: str, target: str) -> str:
    """CREATE DATABASE target TEMPLATE source (a file copy: seconds, not a re-seed)."""
    import psycopg
    from psycopg import sql

    admin = urlunparse(urlparse(admin_url(server_url))._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target))
        )
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )
    return urlunparse(urlparse(server_url)._replace(path="/" + target))
