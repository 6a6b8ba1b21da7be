"""Backup and restore round trip of a seeded session on PostgreSQL (throw-away databases on the
tests' private cluster): every table's row count and checksum, and the documents byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .stack import BIN, ROOT, make_tempdir, stack_environment

pytestmark = pytest.mark.prod

FINGERPRINTS = (
    "import json\n"
    "from ops.backup import table_fingerprints\n"
    "print(json.dumps(table_fingerprints()))\n"
)


def _manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert run.returncode == 0, f"{args}: {run.stdout}\n{run.stderr}"
    return run


def _files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_backup_restore_round_trip(private_services):
    postgres = private_services["postgres"]
    directory = make_tempdir("bac-ops-backup-")
    postgres.drop_database("bac_backup_src")
    postgres.drop_database("bac_backup_dst")
    postgres.create_database("bac_backup_src")
    postgres.create_database("bac_backup_dst")
    try:
        base = stack_environment(
            directory,
            postgres.url("bac_backup_src"),
            f"redis://127.0.0.1:{private_services['cache'].port}/1",
            private_services["broker"].url,
        )
        source = {
            **os.environ,
            **base,
            "MEDIA_ROOT": str(directory / "media-src"),
            "DJANGO_SETTINGS_MODULE": "bac.settings",
        }
        source.pop("PYTEST_XDIST_WORKER", None)
        _manage(source, "migrate", "--noinput", "-v0")
        _manage(
            {**source, "DEBUG": "true"},
            "prod_demo", "--candidates", "300", "--export", str(directory / "export"),
        )  # fmt: skip
        # Documents as the application stores them: encrypted with the document keys.
        _manage(
            source,
            "shell",
            "-c",
            "import os\n"
            "from django.conf import settings\n"
            "from django.core.files.base import ContentFile\n"
            "from django.core.files.storage import default_storage\n"
            "from candidates.documents import encrypt\n"
            "for i in range(3):\n"
            "    default_storage.save(f'cnie/doc-{i}.bin', ContentFile(encrypt(os.urandom(20000 + i), settings.DOCUMENT_KEYS)))\n",
        )
        before = json.loads(_manage(source, "shell", "-c", FINGERPRINTS).stdout.splitlines()[-1])
        assert before["candidates_candidate"][0] == 300
        assert before["results_publishedresult"][0] >= 300
        media_before = _files(directory / "media-src")
        assert len(media_before) == 3

        out = directory / "backup"
        _manage(source, "backup", "--out", str(out))
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["database"]["vendor"] == "postgresql"
        assert (out / "database.dump").read_bytes()[:5] == b"PGDMP"  # pg_dump custom format
        # The documents are copied as they are (still encrypted), with their checksums.
        for name, digest in media_before.items():
            assert manifest["files"][f"media/{name}"]["sha256"] == digest

        target = {
            **source,
            "DATABASE_URL": postgres.url("bac_backup_dst"),
            "MEDIA_ROOT": str(directory / "media-dst"),
        }
        restored = _manage(target, "restore", str(out))
        assert "restored" in restored.stdout
        after = json.loads(_manage(target, "shell", "-c", FINGERPRINTS).stdout.splitlines()[-1])
        assert after == before
        assert _files(directory / "media-dst") == media_before

        # A second restore is refused: the system is no longer empty.
        again = _manage(target, "restore", str(out), check=False)
        assert again.returncode != 0 and "empty" in again.stderr
        # A damaged backup is refused before anything is touched.
        (out / "media" / "cnie" / "doc-0.bin").write_bytes(b"tampered")
        postgres.drop_database("bac_backup_dst")
        postgres.create_database("bac_backup_dst")
        shutil.rmtree(directory / "media-dst")
        damaged = _manage(target, "restore", str(out), check=False)
        assert damaged.returncode != 0 and "checksum" in damaged.stderr
    finally:
        postgres.drop_database("bac_backup_src")
        postgres.drop_database("bac_backup_dst")
        shutil.rmtree(directory, ignore_errors=True)
