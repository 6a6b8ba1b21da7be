"""Verify a diploma face offline, with the keys and status list written by export_diploma."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diplomas import verify

FACE_FILES = ("credential.json", "credential.sd-jwt", "qr.txt", "diploma.pdf")


class Command(BaseCommand):
    help = (
        "Verify PATH_OR_TEXT (a credential.json, an SD-JWT, a QR text, a PDF, or a directory "
        "written by export_diploma: every face in it). With --keys DIR, offline: only the "
        "published keys (did.json, jwks.json, ca.pem), status list (status-list*.json) and "
        "signed replacement record (replacements.jws, to tell a replaced diploma from a revoked "
        "one) in DIR are used. Without it, against this server's current keys and records. Exit "
        "status 0 only if every face is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("target", metavar="PATH_OR_TEXT")
        parser.add_argument("--keys", type=Path, help="directory of the published keys")
        parser.add_argument("--json", action="store_true", help="print verdicts as JSON lines")

    def handle(self, *args, **options):
        target = options["target"]
        path = Path(target) if len(target) < 4096 else None
        inputs: list[tuple[str, bytes | str]] = []
        if path is not None and path.is_dir():
            for name in FACE_FILES:
                if (path / name).exists():
                    inputs.append((name, (path / name).read_bytes()))
            if not inputs:
                raise CommandError(f"no diploma face in {path}")
        elif path is not None and path.is_file():
            inputs.append((path.name, path.read_bytes()))
        else:
            inputs.append(("text", target))
        check = self._checker(options["keys"])
        all_valid = True
        for name, data in inputs:
            verdict = check(data)
            all_valid &= verdict.ok
            if options["json"]:
                self.stdout.write(
                    json.dumps({"input": name, **verdict.as_dict()}, ensure_ascii=False)
                )
            else:
                extra = f" -> {verdict.current_number}" if verdict.current_number else ""
                self.stdout.write(
                    f"{name}: {verdict.state.upper()} [{verdict.face or '?'}] "
                    f"{verdict.number}{extra} — {verdict.reason}"
                )
        if not all_valid:
            raise SystemExit(1)

    def _checker(self, keys_dir: Path | None):
        if keys_dir is None:
            return verify.verify_any
        if not (keys_dir / "did.json").exists() or not (keys_dir / "jwks.json").exists():
            raise CommandError(f"{keys_dir} lacks did.json and jwks.json")
        keys = verify.KeySet.from_directory(keys_dir)
        documents = [
            json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(keys_dir.glob("status-list*.json"))
        ]
        status_lists = verify.status_lists_from_credentials(documents, keys)
        lookup = self._replacements(keys_dir, keys)

        def check(data):
            return verify.verify_with(data, keys=keys, status_list=status_lists, lookup=lookup)

        return check

    def _replacements(self, keys_dir: Path, keys: verify.KeySet) -> verify.Lookup | None:
        """The replacement record of the directory, if it verifies with the DID's keys; else
        none (a replaced diploma then reads as revoked), and a warning that says why."""
        path = keys_dir / verify.REPLACEMENTS_FILE
        if not path.exists():
            return None
        try:
            replacements = verify.read_replacements(path.read_text(encoding="utf-8"), keys)
        except (verify.ReplacementsError, UnicodeDecodeError) as error:
            reason = error if isinstance(error, verify.ReplacementsError) else "not text"
            self.stderr.write(
                f"{verify.REPLACEMENTS_FILE} ignored ({reason}): a replaced diploma will read "
                "as revoked"
            )
            return None
        return verify.replacements_lookup(replacements)
