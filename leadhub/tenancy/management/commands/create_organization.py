from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadhub.tenancy.services import organization_create


class Command(BaseCommand):
    help = "Create an organization (tenant) and its first admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--password", default=None, help="Sign-in password for the admin (optional).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = organization_create(
                name=options["name"],
                slug=options["slug"],
                admin_email=options["admin_email"],
                password=options["password"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"Created organization {organization.name} ({organization.slug}), admin {options['admin_email']}"
        )
