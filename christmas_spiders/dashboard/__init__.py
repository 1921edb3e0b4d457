"""The web dashboard: server-rendered pages over the API's read-only queries.

One blueprint (``bp``) registered by ``create_app`` at ``/``: Jinja templates, a little
CSS and the chart's script in ``static/``, and Chart.js committed under
``static/vendor/`` (no CDN, no build step: the pages work offline). A page is read
with an API key given once at ``/login``; the session cookie it sets is signed with
``dashboard.secret_key``. See docs/dashboard.md.
"""

from __future__ import annotations

from christmas_spiders.dashboard import login, pages, rankings
from christmas_spiders.dashboard.blueprint import bp, init_dashboard

__all__ = ["bp", "init_dashboard", "login", "pages", "rankings"]
