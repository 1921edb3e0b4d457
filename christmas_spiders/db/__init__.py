"""Storage: models, engine, audit SQL and the embedded Postgres. Shared by crawler and API."""
