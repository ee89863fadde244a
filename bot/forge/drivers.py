"""The forges prowlet speaks to: an explicit list, not import side effects.  A new forge is one
package under bot/forge/ with a ``driver.py`` exposing its ``DRIVER``, and one line here."""

from __future__ import annotations

from collections.abc import Sequence

from bot.forge.driver import ForgeDriver
from bot.forge.github import driver as github
from bot.forge.gitlab import driver as gitlab

DRIVERS: tuple[ForgeDriver, ...] = (github.DRIVER, gitlab.DRIVER)


def driver_named(name: str, drivers: Sequence[ForgeDriver] = DRIVERS) -> ForgeDriver:
    for driver in drivers:
        if driver.name == name:
            return driver
    raise KeyError(f"no forge driver named {name!r} (known: {', '.join(d.name for d in drivers)})")
