"""Plain INSERTs for the enqueue's rows, without the ORM's per-query compilation.

``Model.objects.create`` and ``bulk_create`` build their SQL anew for every call, which costs
several times the statement itself on the enqueue path. These helpers build it once per model
and connection vendor from the model's meta (every value a parameter) and prepare each value
the way the ORM does (``pre_save`` for ``auto_now``/``auto_now_add``, ``get_db_prep_save``).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Field, Model

_SQL: dict[tuple[str, str, bool], tuple[str, list[Field[Any, Any]]]] = {}


def _statement(model: type[Model], returning: bool) -> tuple[str, list[Field[Any, Any]]]:
    key = (model._meta.label, connection.vendor, returning)
    found = _SQL.get(key)
    if found is None:
        ops = connection.ops
        fields: list[Field[Any, Any]] = [
            f for f in model._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(ops.quote_name(str(f.column)) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = (f"INSERT INTO {ops.quote_name(model._meta.db_table)} "  # noqa: S608
               f"({columns}) VALUES ({marks})")
        if returning:
            pk = model._meta.pk
            assert pk is not None
            sql += f" RETURNING {ops.quote_name(str(pk.column))}"
        found = _SQL[key] = (sql, fields)
    return found


def _values(obj: Model, fields: list[Field[Any, Any]]) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def insert(obj: Model) -> None:
    """INSERT ``obj`` (a model whose primary key is an auto field) and set its ``pk``."""
    returning = bool(connection.features.can_return_columns_from_insert)
    sql, fields = _statement(type(obj), returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, _values(obj, fields))
        obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj._state.adding = False
    obj._state.db = connection.alias


def insert_many(objs: list[Model]) -> None:
    """INSERT ``objs`` (all of one model) with one ``executemany``; their ``pk`` stays unset."""
    if not objs:
        return
    sql, fields = _statement(type(objs[0]), False)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [_values(obj, fields) for obj in objs])
