"""TEMPORARY stand-in for ``christmas_spiders.middlewares.selenium.element_present``.

Used only until helper "selenium"'s branch (which owns that function) is merged;
then this module is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class element_present:
    css: str

    def __call__(self, driver: Any) -> Any:
        from selenium.webdriver.common.by import By

        found = driver.find_elements(By.CSS_SELECTOR, self.css)
        return found[0] if found else False
