"""The dashboard (README "Dashboard"): pages in ``views``, who may see them in ``access``."""

from bot.dashboard.access import Access
from bot.dashboard.views import Dashboard

__all__ = ["Access", "Dashboard"]
