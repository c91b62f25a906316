"""Autogenerate a migration from the models: ``make migration m="add payouts"``.

It migrates a scratch SQLite database to the current head, then compares it with the models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from goodwill.migrate import MIGRATIONS, alembic_config, upgrade
from goodwill.settings import Settings


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "change"
    existing = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    rev_id = f"{len(existing) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'scratch.db'}")
        upgrade(settings)
        command.revision(
            alembic_config(settings), message=message, autogenerate=True, rev_id=rev_id
        )


if __name__ == "__main__":
    main()
