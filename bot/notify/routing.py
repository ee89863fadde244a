"""Which channels an outcome goes to: every route whose conditions it meets adds its channels."""

from __future__ import annotations

from bot.notify.settings import NotifyRoute
from bot.notify.paths import path_matches
from bot.repo_globs import repo_matches


def matches(route: NotifyRoute, outcome: object, paths: list[str] | None = None) -> bool:
    """``paths``: the change's files for routes with ``paths`` (None: unknown, which matches)."""
    repo = getattr(outcome, "repo", "")
    if not repo_matches(repo, route.repos):
        return False
    if route.outcomes and type(outcome).__name__ not in route.outcomes:
        return False
    labels = {label.lower() for label in getattr(outcome, "labels", ())}
    if route.labels and not labels & {label.lower() for label in route.labels}:
        return False
    author = str(getattr(outcome, "author", "")).lower()
    if route.authors and author not in {a.lower() for a in route.authors}:
        return False
    return not route.paths or paths is None or path_matches(paths, route.paths)


def channels_for(routes: list[NotifyRoute], outcome: object, paths: list[str] | None = None) -> list[str]:
    """Each channel once, in the order the routes name them."""
    found: dict[str, None] = {}
    for route in routes:
        if matches(route, outcome, paths):
            found.update(dict.fromkeys(route.channels))
    return list(found)
