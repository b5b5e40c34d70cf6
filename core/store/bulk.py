"""Multi-row INSERTs without SQLAlchemy's per-row parameter handling, on SQLite.

For every row of an executemany SQLAlchemy builds a parameter dictionary and runs each
value through its type's bind processor in Python: about 8 µs a row here, more than SQLite
takes to store the row, and on the group-commit thread that time is taken from the event
loop (the GIL). On SQLite the hot multi-row inserts are therefore compiled once and handed
to the driver as tuples, each value converted by its column's own bind processor, so that
rows are stored exactly as SQLAlchemy would store them. On PostgreSQL they go through
SQLAlchemy, which sends them in multi-row batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import Insert

from core.errors import StoreError

_SQLITE = sqlite.dialect()
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    columns: tuple[str, ...]
    processors: tuple[Processor, ...]
    defaults: tuple[Any, ...]


class BulkInsert:
    """One INSERT statement, run for many rows at once.

    Args:
        statement: ``table.insert()`` or an ``INSERT … ON CONFLICT DO NOTHING`` of one table,
            without RETURNING.
    """

    def __init__(self, statement: Insert) -> None:
        self.statement = statement
        self.table: Table = statement.table  # type: ignore[assignment]
        self._compiled: dict[frozenset[str], _Compiled] = {}

    def run(self, conn: Connection, dialect: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (dicts keyed by column name, all with the same keys).

        Raises:
            StoreError: the rows do not all have the same keys.
            sqlalchemy.exc.SQLAlchemyError: the database refused the rows.
        """
        if not rows:
            return
        if dialect != "sqlite":
            conn.execute(self.statement, list(rows))
            return
        compiled = self._compile(frozenset(rows[0]))
        conn.exec_driver_sql(compiled.sql, _tuples(compiled, rows))

    def _compile(self, keys: frozenset[str]) -> _Compiled:
        found = self._compiled.get(keys)
        if found is not None:
            return found
        # The rows' columns and, as SQLAlchemy does, those with a Python-side default.
        columns = [c for c in self.table.columns if c.name in keys or c.default is not None]
        for column in columns:
            if column.name not in keys and not getattr(column.default, "is_scalar", False):
                raise StoreError(f"{self.table.name}.{column.name}: only plain defaults")
        compiled = self.statement.compile(dialect=_SQLITE, column_keys=[c.name for c in columns])
        names = tuple(compiled.positiontup or ())
        by_name = {c.name: c for c in columns}
        found = _Compiled(
            sql=str(compiled),
            columns=names,
            processors=tuple(
                by_name[n].type.dialect_impl(_SQLITE).bind_processor(_SQLITE) for n in names
            ),
            defaults=tuple(_scalar_default(by_name[n]) for n in names),
        )
        self._compiled[keys] = found
        return found


def _tuples(compiled: _Compiled, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    keys = rows[0].keys()
    fill = {n: d for n, d in zip(compiled.columns, compiled.defaults, strict=True) if n not in keys}
    values_of = itemgetter(*compiled.columns)
    # A batch shares its timestamps (one "now" object): convert each of them once. Keyed
    # by identity, not equality: equal instants in other time zones are stored differently.
    times: dict[int, Any] = {}
    converters = [
        (index, _converter(processor, times))
        for index, processor in enumerate(compiled.processors)
        if processor is not None
    ]
    out = []
    for row in rows:
        if row.keys() != keys:
            raise StoreError("rows of one bulk insert must all have the same columns")
        values = values_of({**fill, **row} if fill else row)
        if len(compiled.columns) == 1:
            values = (values,)  # itemgetter of one name returns the bare value
        if converters:
            converted = list(values)
            for index, convert in converters:
                converted[index] = convert(converted[index])
            values = tuple(converted)
        out.append(values)
    return out


def _converter(processor: Callable[[Any], Any], times: dict[int, Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is not datetime:
            return processor(value)
        converted = times.get(id(value))
        if converted is None:
            converted = times[id(value)] = processor(value)
        return converted

    return convert


def _scalar_default(column: Any) -> Any:
    default = column.default
    return default.arg if getattr(default, "is_scalar", False) else None
