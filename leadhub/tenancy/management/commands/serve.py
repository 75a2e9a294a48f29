from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve LeadHub for the quick start: the web app plus, without a broker, the scheduled work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        beat = None
        if not settings.REDIS_URL:
            from leadhub.scheduler import InProcessBeat

            beat = InProcessBeat()
            beat.start()
            self.stdout.write("Background work runs in-process (no REDIS_URL); scheduled tasks included.")
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            if beat is not None:
                beat.stop()
