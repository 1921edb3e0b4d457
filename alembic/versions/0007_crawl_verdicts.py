"""Crawl verdicts: one per crawl session, on proof; delisting spares what was listed.

crawl_runs gains ``kind`` (full / years / product / refresh), ``heartbeat_at`` (a row
whose heartbeat stopped belongs to a process that is gone), ``numbers`` (the worker's
counts, summed per session) and the session's ``verdict`` / ``verdict_reason``, written
on the row of the worker that judged it. products gains ``last_listed_at``: when a year
page last listed the product.

Existing rows keep their meaning: a run's kind follows from ``full_crawl``, and a run
the monitors judged gets that verdict, with its finish reason and item count as the
numbers a later session is compared with.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("last_listed_at", sa.DateTime(timezone=True)))
    op.add_column(
        "crawl_runs", sa.Column("kind", sa.String(16), server_default="full", nullable=False)
    )
    op.add_column("crawl_runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.add_column("crawl_runs", sa.Column("numbers", JSONB))
    op.add_column("crawl_runs", sa.Column("verdict", sa.String(16)))
    op.add_column("crawl_runs", sa.Column("verdict_reason", sa.Text))
    op.create_check_constraint(
        op.f("ck_crawl_runs_verdict_known"), "crawl_runs", "verdict IN ('passed', 'failed')"
    )
    op.execute(
        """
        UPDATE crawl_runs SET
            kind = CASE WHEN full_crawl THEN 'full' ELSE 'years' END,
            verdict = CASE monitors_passed WHEN true THEN 'passed' WHEN false THEN 'failed' END,
            numbers = jsonb_build_object(
                'finish_reason', finish_reason, 'full_crawl', full_crawl, 'items', items,
                'pages', pages, 'errors', errors, 'dropped', dropped)
        """
    )
    op.execute(
        """
        UPDATE crawl_runs SET monitor_report = monitor_report
            || jsonb_build_object('numbers', numbers)
        WHERE monitor_report IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_crawl_runs_verdict_known"), "crawl_runs", type_="check")
    for column in ("verdict_reason", "verdict", "numbers", "heartbeat_at", "kind"):
        op.drop_column("crawl_runs", column)
    op.drop_column("products", "last_listed_at")
