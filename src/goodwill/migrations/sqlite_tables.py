"""Changing a SQLite table's columns in a migration, which SQLite cannot do in place.

SQLite's documented procedure: create the new table, copy the rows, drop the old one, rename
the new one, recreate its indexes and triggers. Migrations run with foreign keys off on
SQLite; the other tables' references to the one rebuilt are checked at the end (``PRAGMA
foreign_key_check``).
"""

from __future__ import annotations

from collections.abc import Mapping

from alembic import op


def rebuild(
    table: str, declarations: Mapping[str, str], values: Mapping[str, str] | None = None
) -> None:
    """Rebuild ``table`` with each column declaration (``"updated_at DATETIME NOT NULL,"``,
    as its ``CREATE TABLE`` has it, whitespace aside) replaced by its new one: an empty one
    drops the column (or constraint), and one that adds a column says what it holds in
    ``values``, an SQL expression over the old row (``{"ref": "(SELECT …)"}``). The rows are
    copied column by column into the columns the new table has."""
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
    for old, new in declarations.items():
        found = body.count(f" {old} ") + body.startswith(f"{old} ")
        if found != 1:
            raise RuntimeError(f"{table}: {old!r} found {found} times in {body!r}")
        body = f" {body}".replace(f" {old} ", f" {new} ").lstrip()
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
