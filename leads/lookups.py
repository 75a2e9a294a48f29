"""`field__any_of=[...]`: membership in a list sent as one array parameter on PostgreSQL.

`__in` sends one placeholder per value. For the thousand values of an events batch the driver's parsing
of that statement took longer than PostgreSQL took to run it (12 ms of a batch's 85). `= ANY(%s)` is one
parameter, adapted by the driver's C code, and uses the same indexes (btree scans take an array). Where
the column's index is partial, the query must still state the index's condition itself (a parameter
cannot prove it). On other databases the lookup is `__in`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


class AnyOf(Lookup):  # type: ignore[type-arg]
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        prep = self.lhs.output_field.get_prep_value
        return [prep(value) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} = ANY(%s::{array_type}[])", (*lhs_params, list(self.rhs))


# Relations keep lookups of their own: the lookup is registered on them too (for ids, not instances).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
