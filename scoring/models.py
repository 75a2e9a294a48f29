"""Qualification's records. Each area keeps its models in a module of its own (the chat, predictive
scoring), imported here so that Django finds them."""

from __future__ import annotations

from scoring.models_chat import *  # noqa: F403
from scoring.models_predictive import *  # noqa: F403
