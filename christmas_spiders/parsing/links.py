"""URLs: spider origins (``-a base_url=``) and product links as items carry them."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from christmas_spiders.parsing.errors import ParseError


def validate_origin(value: str) -> str:
    """``http(s)://host[:port]`` (a trailing ``/`` allowed) -> the origin without the slash.

    Anything else (another scheme, a path, a query, no host, a bad port) raises
    :class:`ParseError`: a base_url only swaps the origin, paths never change.
    """
    text = str(value).strip()
    parts = urlsplit(text)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif not parts.hostname:
        problem = "it has no host"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "it must be an origin only (no path, query or fragment)"
    elif parts.username or parts.password:
        problem = "it must not carry credentials"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            problem = "its port is not a number in 0-65535"
    if problem:
        raise ParseError(
            f"base_url={value!r} is not an http(s) origin like http://127.0.0.1:8080: {problem}"
        )
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def swap_origin(url: str, origin: str) -> str:
    """``url`` with its scheme, host and port replaced by ``origin``'s; path and query kept."""
    target = urlsplit(origin)
    parts = urlsplit(url)
    return urlunsplit(
        (target.scheme, target.netloc, parts.path or "/", parts.query, parts.fragment)
    )


def clean_link(href: str, page_url: str | None = None) -> str:
    """An absolute link (resolved against ``page_url``) without query string or fragment."""
    absolute = urljoin(page_url, href.strip()) if page_url else href.strip()
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParseError(f"not an absolute http(s) link: {href!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
