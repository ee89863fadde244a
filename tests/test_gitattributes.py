"""Which paths .gitattributes marks linguist-generated: a table of git's matching rules."""

from __future__ import annotations

import pytest

from bot.gitattributes import LinguistGenerated

CASES = [
    ("no file", None, "a.go", False),
    ("a name matches at any depth", "zz_generated.go linguist-generated", "pkg/api/zz_generated.go", True),
    ("star stays in one directory", "*.pb.go linguist-generated=true", "api/v1/x.pb.go", True),
    ("a slash anchors at the root", "vendor/** linguist-generated", "vendor/lib/a.go", True),
    ("anchored pattern misses elsewhere", "vendor/** linguist-generated", "src/vendor/a.go", False),
    ("leading slash anchors", "/gen/*.go linguist-generated", "gen/a.go", True),
    ("leading slash, deeper file", "/gen/*.go linguist-generated", "gen/sub/a.go", False),
    ("double star in the middle", "docs/**/api.md linguist-generated", "docs/a/b/api.md", True),
    ("other attributes are not it", "*.go text eol=lf", "a.go", False),
    ("unset by a later line", "*.go linguist-generated\nkeep.go -linguist-generated", "keep.go", False),
    ("false unsets", "*.go linguist-generated=false", "a.go", False),
    ("comments are ignored", "# *.go linguist-generated", "a.go", False),
    ("question mark is one character", "?.txt linguist-generated", "ab.txt", False),
]


@pytest.mark.parametrize(("name", "text", "path", "generated"), CASES, ids=[c[0] for c in CASES])
def test_linguist_generated(name: str, text: str | None, path: str, generated: bool) -> None:
    assert LinguistGenerated(text)(path) is generated
