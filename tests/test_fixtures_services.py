from __future__ import annotations

import psycopg
import redis
from sqlalchemy.engine import make_url


def test_empty_database_is_real_and_empty(empty_database_url):
    libpq = make_url(empty_database_url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_redis_answers(redis_url):
    assert redis.Redis.from_url(redis_url).ping()
