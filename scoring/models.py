"""Qualification's records. Each area keeps its models in a module of its own, imported here so that
Django finds them."""

from scoring.models_predictive import *  # noqa: F403
