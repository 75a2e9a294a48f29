from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadhub.tenancy.context import tenant_context
from leadhub.tenancy.models import ApiKeyScope, Organization
from leadhub.tenancy.services import Actor, api_key_create


class Command(BaseCommand):
    help = "Create an API key for an organization; the key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scope", choices=ApiKeyScope.values, default=ApiKeyScope.FULL)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{options['organization']}'.")
        try:
            with tenant_context(organization):
                key, raw = api_key_create(
                    organization=organization,
                    name=options["name"],
                    scope=options["scope"],
                    actor=Actor.system("create_api_key command"),
                )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"Created {key.scope} key '{key.name}' (prefix {key.prefix}) for {organization.slug}. "
            "Store it now, it is not shown again:"
        )
        self.stdout.write(raw)
