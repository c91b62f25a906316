"""stamps and rewards: what their card, purchase or customer says is read from them

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 16:00:00

Per purchase, a new row repeated what another row holds and never changes:

- a stamp's ``customer_id`` is its card's, and its ``transaction_ref`` its purchase's
  ``external_id`` (about 37 bytes a stamp on PostgreSQL: a 16-byte id and the shop's order
  reference). ``QualifyingPurchase`` reads both through the card and the purchase.
- a reward's ``beneficiary`` is ``referred_customer`` exactly when the reward names a customer
  (``customer_id``), else ``promoter`` (12 bytes a reward on average in the bench). It is
  ``Reward.beneficiary``, computed.

Before dropping anything the upgrade checks that every stored value is what would be read in
its place; if one is not, it stops and changes nothing. The downgrade writes the columns
again from the cards, purchases and customers. On SQLite both tables are rebuilt
(``goodwill.migrations.sqlite_tables``); on PostgreSQL the columns are dropped in place, so
rows written before keep their bytes until the table is rewritten (``VACUUM FULL``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from goodwill.migrations.sqlite_tables import rebuild

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CUSTOMER = "(SELECT c.customer_id FROM loyalty_cards c WHERE c.id = qualifying_purchases.card_id)"
_REF = "(SELECT p.external_id FROM purchases p WHERE p.id = qualifying_purchases.purchase_id)"
_BENEFICIARY = "CASE WHEN rewards.customer_id IS NULL THEN 'promoter' ELSE 'referred_customer' END"

# Stored values that differ from what is read in their place (a missing card or purchase too).
_CHECKS = {
    "stamps whose customer is not their card's": (
        "SELECT count(*) FROM qualifying_purchases "  # noqa: S608 - fixed names, no input
        f"WHERE {_CUSTOMER} IS NULL OR {_CUSTOMER} <> qualifying_purchases.customer_id"
    ),
    "stamps whose transaction_ref is not their purchase's external_id": (
        "SELECT count(*) FROM qualifying_purchases "  # noqa: S608 - fixed names, no input
        f"WHERE {_REF} IS NULL OR {_REF} <> qualifying_purchases.transaction_ref"
    ),
    "rewards whose beneficiary does not say whether they name a customer": (
        f"SELECT count(*) FROM rewards WHERE {_BENEFICIARY} <> rewards.beneficiary"  # noqa: S608
    ),
}

_CUSTOMER_FK = (
    "fk_qualifying_purchases_customer_id_customers",
    "qualifying_purchases",
    "customers",
    ["customer_id"],
    ["id"],
)

# SQLite: each table's dropped columns and constraints, and their declarations going back.
_SQLITE_DROP = {
    "qualifying_purchases": (
        "customer_id",
        "transaction_ref",
        "fk_qualifying_purchases_customer_id_customers",
    ),
    "rewards": ("beneficiary",),
}
_SQLITE_ADD = {
    "qualifying_purchases": (
        "customer_id BLOB NOT NULL",
        "transaction_ref VARCHAR(200) NOT NULL",
        "CONSTRAINT fk_qualifying_purchases_customer_id_customers FOREIGN KEY(customer_id) "
        "REFERENCES customers (id)",
    ),
    "rewards": ("beneficiary VARCHAR(24) NOT NULL",),
}
_VALUES = {
    "qualifying_purchases": {"customer_id": _CUSTOMER, "transaction_ref": _REF},
    "rewards": {"beneficiary": _BENEFICIARY},
}


def upgrade() -> None:
    bind = op.get_bind()
    found = {what: bind.execute(sa.text(sql)).scalar_one() for what, sql in _CHECKS.items()}
    wrong = [f"{count} {what}" for what, count in found.items() if count]
    if wrong:
        raise RuntimeError(
            f"migration 0025 changed nothing: {', '.join(wrong)}; those rows need looking at "
            "before their columns can be read from the rows they repeat"
        )
    if bind.dialect.name == "sqlite":
        for table, dropped in _SQLITE_DROP.items():
            rebuild(table, drop=dropped)
        return
    op.drop_constraint(_CUSTOMER_FK[0], "qualifying_purchases", type_="foreignkey")
    op.drop_column("qualifying_purchases", "customer_id")
    op.drop_column("qualifying_purchases", "transaction_ref")
    op.drop_column("rewards", "beneficiary")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table, added in _SQLITE_ADD.items():
            rebuild(table, values=_VALUES[table], add=added)
        return
    op.add_column("qualifying_purchases", sa.Column("customer_id", sa.Uuid(), nullable=True))
    op.add_column(
        "qualifying_purchases", sa.Column("transaction_ref", sa.String(200), nullable=True)
    )
    op.add_column("rewards", sa.Column("beneficiary", sa.String(24), nullable=True))
    for table, values in _VALUES.items():
        sets = ", ".join(f"{column} = {value}" for column, value in values.items())
        op.execute(f"UPDATE {table} SET {sets}")  # noqa: S608 - fixed names, no input
        for column in values:
            op.alter_column(table, column, nullable=False)
    op.create_foreign_key(*_CUSTOMER_FK)
