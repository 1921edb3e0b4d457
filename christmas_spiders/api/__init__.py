"""The read API: Flask app factory, one blueprint per resource, API keys, one envelope.

``flask --app christmas_spiders.api run`` (development), ``christmas api serve`` (granian,
per christmas_spiders/api/wsgi.py) or gunicorn per deploy/gunicorn.conf.py.
"""

from __future__ import annotations

from christmas_spiders.api.app import create_app

__all__ = ["create_app"]
