"""Qualification's records. The chat's models live in their own module and are imported at the end."""

from __future__ import annotations

from scoring.models_chat import *  # noqa: F403
