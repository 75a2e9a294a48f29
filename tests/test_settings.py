"""Production settings, loaded the way a server loads them: in a fresh process, from the environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
# Variables that switch the settings into a development or test mode.
NON_PRODUCTION = (
    "DEBUG",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests for their live server
    "LEADHUB_DEMO",
    "LEADHUB_TESTING",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in NON_PRODUCTION and not k.startswith("PYTEST")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_database_url() -> str:
    """DATABASE_URL of the database this test run uses (pytest-django's test database)."""
    database = settings.DATABASES["default"]
    if connection.vendor != "postgresql":
        return f"sqlite:///{database['NAME']}"
    credentials = database["USER"] + (
        f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    )
    host, port = database["HOST"] or "localhost", database["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{database['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def _production(**overrides: str) -> dict[str, str]:
    # On PostgreSQL the deploy checks also inspect the database role, which must be subject to
    # row-level security: the test database is reached with the same role as the test run.
    return {
        "DATABASE_URL": test_database_url(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "leadhub.example.com",
        **overrides,
    }


pytestmark = pytest.mark.django_db


def test_production_settings_pass_the_deploy_checks() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **_production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    environment = _production()
    del environment["SECRET_KEY"]
    result = _manage("check", **environment)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"DEBUG": "1"}, "security.W018"),
        ({"SECRET_KEY": "too-short"}, "security.W009"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
    ],
)
def test_the_deploy_checks_catch_an_insecure_setting(overrides: dict[str, str], warning: str) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **_production(**overrides))
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr
