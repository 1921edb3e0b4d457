"""/api/v1/openapi.json: the OpenAPI document (public, like the docs it is)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from christmas_spiders.api.openapi import openapi_document

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
def openapi() -> Response:
    document = current_app.extensions.get("christmas_openapi")
    if document is None:
        document = openapi_document(current_app)
        current_app.extensions["christmas_openapi"] = document
    return jsonify(document)
