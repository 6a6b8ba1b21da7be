from pathlib import Path

from django.core.management.base import BaseCommand

from exams.structure import load_academies, load_tracks


class Command(BaseCommand):
    help = "Load the academies, directorates, tracks, subjects and coefficients (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--academies", type=Path, help="academies.csv (default: shared data)")
        parser.add_argument("--tracks", type=Path, help="tracks JSON (default: illustrative set)")

    def handle(self, *args, **options):
        academies, directorates = load_academies(options["academies"])
        tracks = load_tracks(options["tracks"])
        self.stdout.write(
            f"{academies} academies, {directorates} directorates, {tracks} tracks loaded."
        )
