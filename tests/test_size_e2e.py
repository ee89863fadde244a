"""size on both forges: size/XS … size/XXL from changed lines, linguist-generated files left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.forge.base import ChangedFile
from plugins.size import SizeOptions, size_label
from tests.conftest import AUTHOR, REPO, Bot

THRESHOLDS = [
    ("nothing", 0, SizeOptions(), "size/XS"),
    ("just under S", 9, SizeOptions(), "size/XS"),
    ("S", 10, SizeOptions(), "size/S"),
    ("M", 30, SizeOptions(), "size/M"),
    ("L", 100, SizeOptions(), "size/L"),
    ("XL", 500, SizeOptions(), "size/XL"),
    ("XXL", 1000, SizeOptions(), "size/XXL"),
    ("configured thresholds", 5, SizeOptions(s=2, m=4, l=8, xl=16, xxl=32), "size/M"),
]


@pytest.mark.parametrize(("name", "lines", "sizes", "label"), THRESHOLDS, ids=[t[0] for t in THRESHOLDS])
def test_size_label(name: str, lines: int, sizes: SizeOptions, label: str) -> None:
    assert size_label(lines, sizes) == label


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"enabled": ["size"]}}


def changed(path: str, added: int, deleted: int = 0) -> ChangedFile:
    return ChangedFile(path, "modified", additions=added, deletions=deleted)


@dataclass(frozen=True)
class Case:
    name: str
    files: list[ChangedFile]
    label: str
    gitattributes: str | None = None
    seed: list[str] = field(default_factory=list)


CASES = [
    Case("small change", [changed("a.go", 3, 2)], "size/XS"),
    Case("additions and deletions both count", [changed("a.go", 20, 15)], "size/M"),
    Case("lines add up over files", [changed("a.go", 60), changed("b.go", 60)], "size/L"),
    Case("huge change", [changed("a.go", 1500)], "size/XXL"),
    Case("linguist-generated files do not count", [changed("a.go", 4), changed("api/x.pb.go", 2000)], "size/XS",
         gitattributes="*.pb.go linguist-generated=true\n"),
    Case("a stale size label is replaced", [changed("a.go", 40)], "size/M", seed=["size/XS"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_size_on_open(bot: Bot, case: Case) -> None:
    fake = bot.fake
    if case.gitattributes:
        fake.set_file(REPO, ".gitattributes", case.gitattributes)
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=case.files)
    if case.seed:
        fake.set_labels(REPO, number, case.seed)
    await bot.deliver(opened)
    assert {label for label in fake.labels(REPO, number) if label.startswith("size/")} == {case.label}


async def test_new_commits_resize(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=[changed("a.go", 2)])
    await bot.deliver(opened)
    assert fake.labels(REPO, number) == {"size/XS"}
    fake.set_changed_files(REPO, number, [changed("a.go", 200, 50)])
    await bot.deliver(fake.push(REPO, number, AUTHOR))
    assert fake.labels(REPO, number) == {"size/L"}
