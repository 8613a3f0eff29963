"""Hot-path lookups compiled once: the ORM writes the SQL and the converters, the request only runs them.

Building and compiling a QuerySet costs more than the query itself for a one-row primary-key read
(about 0.4 ms of the 0.65 ms of `Clip.objects.filter(...).get(pk=...)` on PostgreSQL, measured with
bench/api.py's setup). `CompiledLookup` asks the ORM for the SQL of a fixed-shape query once per
database alias, remembers where each named parameter goes and which converters each column needs
(JSON, dates on SQLite, ...), and then runs it with a plain cursor. Rows become model instances
through `Model.from_db`, exactly as a QuerySet makes them, so callers cannot tell the difference.
Use it only where a profile shows the compile cost matters.
"""

from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from django.db import connections, models


@dataclass(frozen=True)
class _Compiled:
    sql: str
    param_order: tuple[str, ...]
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple, object], ...]


class CompiledLookup:
    """One row of `model` matching `build(**params)`, or None.

    `build` returns the QuerySet for the given keyword values; it is called once per database with
    placeholder integers, so every parameter must be an integer compared for equality (ids, keys),
    and the query must select whole rows of `model`.
    """

    def __init__(
        self, model: type[models.Model], build: Callable[..., models.QuerySet], params: tuple[str, ...]
    ):
        self.model = model
        self.build = build
        self.params = params
        self._compiled: dict[str, _Compiled] = {}
        self._lock = Lock()

    def _compile(self, alias: str) -> _Compiled:
        # Distinct placeholders locate each named parameter in the compiled SQL's parameter list.
        placeholders = {name: -(10**12) - n for n, name in enumerate(self.params)}
        queryset = self.build(**placeholders).order_by().using(alias)
        compiler = queryset.query.get_compiler(alias)
        sql, sql_params = compiler.as_sql()
        by_value = {value: name for name, value in placeholders.items()}
        if sorted(sql_params) != sorted(placeholders.values()) or len(set(sql_params)) != len(sql_params):
            raise ValueError(f"{self.model.__name__} lookup must use each of {self.params} exactly once")
        columns = [col for col, _, _ in compiler.select]
        attnames = tuple(col.target.attname for col in columns)
        if set(attnames) != {field.attname for field in self.model._meta.concrete_fields}:
            raise ValueError(f"{self.model.__name__} lookup must select whole rows")
        converters = tuple(
            (index, tuple(functions), expression)
            for index, (functions, expression) in compiler.get_converters(columns).items()
        )
        return _Compiled(sql, tuple(by_value[value] for value in sql_params), attnames, converters)

    def get(self, *, using: str = "default", **values: int) -> models.Model | None:
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(using, self._compile(using))
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [values[name] for name in compiled.param_order])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for index, functions, expression in compiled.converters:
            value = row[index]
            for convert in functions:
                value = convert(value, expression, connection)
            row[index] = value
        return self.model.from_db(using, compiled.attnames, row)
