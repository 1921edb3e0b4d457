"""products.was_price (the struck "was" / retail price a page shows beside the price) and
availability ``unknown`` (stock wording the crawler does not know).

The audit trigger's UPDATE condition names the audited columns, so it is recreated
with was_price among them (was_price is trackable; audit.tracked_fields decides whether
it is tracked).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from christmas_spiders.db import audit_sql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

CHECK = "ck_products_availability_known"
WITH_UNKNOWN = "availability IN ('in_stock', 'out_of_stock', 'unknown', 'delisted')"
WITHOUT_UNKNOWN = "availability IN ('in_stock', 'out_of_stock', 'delisted')"


def _set_check(condition: str) -> None:
    op.drop_constraint(op.f(CHECK), "products", type_="check")
    op.create_check_constraint(op.f(CHECK), "products", condition)


def upgrade() -> None:
    op.add_column("products", sa.Column("was_price", sa.Numeric(12, 2), nullable=True))
    _set_check(WITH_UNKNOWN)
    audit_sql.install_update_trigger(op.get_bind())


def downgrade() -> None:
    op.execute(
        "UPDATE audit_settings SET tracked_fields = array_remove(tracked_fields, 'was_price')"
    )
    # The older schema knows no "unknown": such a product is taken as not in stock, as
    # every reader of the newer schema already counts it.
    op.execute("UPDATE products SET availability = 'out_of_stock' WHERE availability = 'unknown'")
    _set_check(WITHOUT_UNKNOWN)
    # The trigger's condition names was_price: it goes first, and comes back without it.
    op.execute("DROP TRIGGER IF EXISTS products_audit_update ON products")
    op.drop_column("products", "was_price")
    audit_sql.install_update_trigger(op.get_bind())
