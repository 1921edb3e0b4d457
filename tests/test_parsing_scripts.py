"""Data set in inline scripts (``var BCData = {...}``, ``var _3d_item = {...}``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from christmas_spiders.parsing import ScriptDataError, script_object


def test_the_first_script_that_sets_the_variable_is_read_with_exact_numbers() -> None:
    scripts = [
        "window.dataLayer = [];",
        'var _3d_cart = {"subtotal": 0};',
        'var _3d_item = {"price": 24.95, "id": "QX1"}; var other = 1;',
        'var _3d_item = {"price": 1};',
    ]
    assert script_object(scripts, "_3d_item") == {"price": Decimal("24.95"), "id": "QX1"}
    assert script_object(scripts, "_3d_cart") == {"subtotal": 0}
    # A name is matched whole: "_3d_item" is not "my_3d_item", nor "BCData" "BCDataX".
    assert script_object(['var BCDataX = {"a": 1};'], "BCData") is None
    assert script_object([], "BCData") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("var BCData = {broken", "not valid JSON"), ("var BCData = [1];", "not an object")],
)
def test_a_value_that_is_not_a_json_object_is_an_error(text: str, message: str) -> None:
    with pytest.raises(ScriptDataError, match=message):
        script_object([text], "BCData")
