"""Backups of a whole system: the database and the documents, with a manifest of checksums.

    manage.py backup --out DIR     DIR/database.dump (PostgreSQL, pg_dump custom format) or
                                   DIR/database.sqlite3 (SQLite, online backup API),
                                   DIR/media/… (documents as they are: encrypted stay encrypted),
                                   DIR/manifest.json (sha256 and size of every file, row counts)
    manage.py restore DIR          into an EMPTY system (no table in the database, no file in
                                   MEDIA_ROOT), after checking every checksum

The manifest also records each table's row count so that a restore can be checked
(`table_fingerprints`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_env(db: dict) -> dict[str, str]:
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def _pg_args(db: dict) -> list[str]:
    args = []
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    return args


def table_names() -> list[str]:
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor))


def row_counts() -> dict[str, int]:
    quote = connection.ops.quote_name
    counts = {}
    with connection.cursor() as cursor:
        for table in table_names():
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 (introspected)
            counts[table] = cursor.fetchone()[0]
    return counts


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """(row count, checksum of every row's content) per table: equal before and after a
    faithful round trip. PostgreSQL: md5 of the rows' text, in a stable order."""
    quote = connection.ops.quote_name
    result = {}
    with connection.cursor() as cursor:
        for table in table_names():
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"SELECT COUNT(*), COALESCE(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "  # noqa: S608
                    f"FROM {quote(table)} t"
                )
                count, checksum = cursor.fetchone()
            else:
                cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608
                rows = sorted(repr(row) for row in cursor.fetchall())
                count = len(rows)
                checksum = hashlib.md5("\n".join(rows).encode()).hexdigest()  # noqa: S324
            result[table] = (count, checksum)
    return result


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def _files_under(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass
class BackupSummary:
    directory: Path
    files: int
    bytes: int
    tables: int


def backup(out: Path) -> BackupSummary:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    db = connections["default"].settings_dict
    vendor = connection.vendor
    if vendor == "postgresql":
        database_file = out / "database.dump"
        command = ["pg_dump", "--format=custom", "--no-owner", "--file", str(database_file)]
        command += [*_pg_args(db), db["NAME"]]
        run = subprocess.run(command, env=_pg_env(db), capture_output=True, text=True)  # noqa: S603
        if run.returncode:
            raise BackupError(f"pg_dump failed: {run.stderr.strip()[:500]}")
    elif vendor == "sqlite":
        database_file = out / "database.sqlite3"
        source = sqlite3.connect(str(db["NAME"]))
        target = sqlite3.connect(str(database_file))
        with target:
            source.backup(target)  # a consistent copy, even while others write
        source.close()
        target.close()
    else:
        raise BackupError(f"unsupported database: {vendor}")
    counts = row_counts()
    media_out = out / "media"
    copied = 0
    for path in _files_under(media_root()):
        relative = path.relative_to(media_root())
        destination = media_out / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)  # bytes as they are: encrypted documents stay so
        copied += 1
    files = {}
    total = 0
    for path in _files_under(out):
        relative = path.relative_to(out).as_posix()
        size = path.stat().st_size
        files[relative] = {"sha256": sha256_of(path), "size": size}
        total += size
    manifest = {
        "format": FORMAT,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "database": {"vendor": vendor, "file": database_file.name, "rows": counts},
        "media": {"files": copied},
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return BackupSummary(out, len(files), total, len(counts))


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise BackupError(f"{path} is missing: not a backup")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError("unknown backup format")
    return manifest


def verify(directory: Path) -> dict:
    """Check every file of the backup against its manifest; returns the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for relative, expected in manifest["files"].items():
        path = directory / relative
        if not path.is_file():
            raise BackupError(f"{relative} is missing from the backup")
        if path.stat().st_size != expected["size"] or sha256_of(path) != expected["sha256"]:
            raise BackupError(f"{relative} does not match its checksum")
    return manifest


def system_is_empty() -> tuple[bool, str]:
    tables = table_names()
    if tables:
        return False, f"the database already has {len(tables)} tables"
    if _files_under(media_root()):
        return False, f"{media_root()} already holds files"
    return True, ""


def restore(directory: Path) -> dict:
    directory = Path(directory)
    manifest = verify(directory)
    empty, why = system_is_empty()
    if not empty:
        raise BackupError(f"restore needs an empty system: {why}")
    vendor = connection.vendor
    database = manifest["database"]
    if database["vendor"] != vendor:
        raise BackupError(f"the backup is of a {database['vendor']} database, this is {vendor}")
    db = connections["default"].settings_dict
    source = directory / database["file"]
    if vendor == "postgresql":
        connection.close()
        command = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"]
        command += [*_pg_args(db), "--dbname", db["NAME"], str(source)]
        run = subprocess.run(command, env=_pg_env(db), capture_output=True, text=True)  # noqa: S603
        if run.returncode:
            raise BackupError(f"pg_restore failed: {run.stderr.strip()[:500]}")
    else:
        connection.close()
        target = sqlite3.connect(str(db["NAME"]))
        origin = sqlite3.connect(str(source))
        with target:
            origin.backup(target)
        origin.close()
        target.close()
    media_in = directory / "media"
    for path in _files_under(media_in):
        destination = media_root() / path.relative_to(media_in)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    counts = row_counts()
    if counts != database["rows"]:
        differ = sorted(
            t
            for t in set(counts) | set(database["rows"])
            if counts.get(t) != database["rows"].get(t)
        )
        raise BackupError(f"restored row counts differ from the backup's: {', '.join(differ[:10])}")
    return manifest
