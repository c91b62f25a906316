"""Changing a SQLite table's columns in a migration, which SQLite cannot do in place.

SQLite's documented procedure: create the new table, copy the rows, drop the old one, rename
the new one, recreate its indexes and triggers. Migrations run with foreign keys off on
SQLite; the other tables' references to the one rebuilt are checked at the end (``PRAGMA
foreign_key_check``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alembic import op


def rebuild(
    table: str,
    declarations: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    *,
    drop: Sequence[str] = (),
    add: Sequence[str] = (),
) -> None:
    """Rebuild ``table`` with each column declaration (``"updated_at DATETIME NOT NULL,"``,
    as its ``CREATE TABLE`` has it, whitespace aside) replaced by its new one; without the
    columns and constraints named in ``drop`` (wherever they are declared: Alembic's batch
    mode wrote constraints in no fixed order); and with the declarations of ``add`` (columns
    after the columns, ``CONSTRAINT …`` after the constraints). A column added says what it
    holds in ``values``, an SQL expression over the old row (``{"ref": "(SELECT …)"}``). The
    rows are copied column by column into the columns the new table has."""
    bind = op.get_bind()
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    dependents = [  # what DROP TABLE drops with it
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
            "AND tbl_name = ?",
            (table,),
        )
    ]
    body = " ".join(create.split("(", 1)[1].split())
    for old, new in (declarations or {}).items():
        found = body.count(f" {old} ") + body.startswith(f"{old} ")
        if found != 1:
            raise RuntimeError(f"{table}: {old!r} found {found} times in {body!r}")
        body = f" {body}".replace(f" {old} ", f" {new} ").lstrip()
    if drop or add:
        body = _redeclared(table, body, drop, add)
    rebuilt = f"{table}__rebuilt"
    bind.exec_driver_sql(f'CREATE TABLE "{rebuilt}" ({body}')
    names = [row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{rebuilt}")')]
    given = values or {}
    columns = ", ".join(f'"{n}"' for n in names)
    selected = ", ".join(given.get(n, f'"{table}"."{n}"') for n in names)
    bind.exec_driver_sql(
        f'INSERT INTO "{rebuilt}" ({columns}) SELECT {selected} FROM "{table}" ORDER BY rowid'  # noqa: S608 - schema names
    )
    # Other tables' foreign keys name the table, briefly missing: the legacy rename does not
    # check them.
    bind.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        bind.exec_driver_sql(f'DROP TABLE "{table}"')
        bind.exec_driver_sql(f'ALTER TABLE "{rebuilt}" RENAME TO "{table}"')
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for dependent in dependents:
        bind.exec_driver_sql(dependent)
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"references broken by rebuilding {table}: {broken[:5]}")


def _redeclared(table: str, body: str, drop: Sequence[str], add: Sequence[str]) -> str:
    """``body`` (a ``CREATE TABLE``'s after its first parenthesis) without the declarations
    named in ``drop`` and with those of ``add``."""
    if not body.endswith(")"):
        raise RuntimeError(f"{table}: {body!r} does not end its declarations")
    parts, depth, start = [], 0, 0
    inner = body[:-1]
    for at, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inner[start:at].strip())
            start = at + 1
    parts.append(inner[start:].strip())
    for name in drop:
        named = [p for p in parts if p.startswith((f"{name} ", f"CONSTRAINT {name} "))]
        if len(named) != 1:
            raise RuntimeError(f"{table}: {name!r} declared {len(named)} times in {body!r}")
        parts.remove(named[0])
    constraint = [p.startswith("CONSTRAINT ") for p in parts]
    columns = [p for p, c in zip(parts, constraint, strict=True) if not c]
    constraints = [p for p, c in zip(parts, constraint, strict=True) if c]
    columns += [a for a in add if not a.startswith("CONSTRAINT ")]
    constraints += [a for a in add if a.startswith("CONSTRAINT ")]
    return ", ".join(columns + constraints) + ")"
