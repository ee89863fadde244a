"""Forge clients: one neutral interface (``bot.forge.base``) and one adapter per forge."""
