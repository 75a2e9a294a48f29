"""A list of integers stored as `integer[]` on PostgreSQL and as JSON text elsewhere.

The scores of each rule are kept as a list aligned with the version's rules (ordered by id): the set-based
recompute reads and writes them as plain arrays, which cost a fraction of what building JSON objects for a
million leads does, while the portable path (SQLite) stores the same list as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class IntegerListField(models.Field):
    description = "A list of integers"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "integer[]" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> list[int] | None:
        return self.to_python(value)

    def to_python(self, value: Any) -> list[int] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = json.loads(value or "[]")
        return [int(v) for v in value]

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None:
            return None
        values = [int(v) for v in value]
        return values if connection.vendor == "postgresql" else json.dumps(values)

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))
