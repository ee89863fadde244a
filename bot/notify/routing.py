"""Which channels an outcome goes to: every route whose conditions it meets adds its channels."""

from __future__ import annotations

from bot.config import NotifyRoute
from bot.repo_globs import repo_matches


def matches(route: NotifyRoute, outcome: object) -> bool:
    repo = getattr(outcome, "repo", "")
    if not repo_matches(repo, route.repos):
        return False
    if route.outcomes and type(outcome).__name__ not in route.outcomes:
        return False
    labels = {label.lower() for label in getattr(outcome, "labels", ())}
    if route.labels and not labels & {label.lower() for label in route.labels}:
        return False
    author = str(getattr(outcome, "author", "")).lower()
    return not route.authors or author in {a.lower() for a in route.authors}


def channels_for(routes: list[NotifyRoute], outcome: object) -> list[str]:
    """Each channel once, in the order the routes name them."""
    found: dict[str, None] = {}
    for route in routes:
        if matches(route, outcome):
            found.update(dict.fromkeys(route.channels))
    return list(found)
