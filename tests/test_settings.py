"""Environment settings: which forges are enabled, and clear errors for unusable values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ENABLED = [
    ("nothing set", {}, None, None),
    ("github token", {"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET": "s"}, "ok", None),
    ("github without secret", {"GITHUB_TOKEN": "t"}, "GITHUB_WEBHOOK_SECRET", None),
    ("github app", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "k", "GITHUB_WEBHOOK_SECRET": "s"}, "ok", None),
    ("gitlab", {"GITLAB_TOKEN": "t", "GITLAB_WEBHOOK_SECRET": "s"}, None, "ok"),
    ("gitlab without secret", {"GITLAB_TOKEN": "t"}, None, "GITLAB_WEBHOOK_SECRET"),
]


@pytest.mark.parametrize("env,github,gitlab", [c[1:] for c in ENABLED], ids=[c[0] for c in ENABLED])
def test_which_forges_can_run(env: dict[str, str], github: str | None, gitlab: str | None) -> None:
    settings = load_settings(env)
    for missing, expected in ((settings.github.missing, github), (settings.gitlab.missing, gitlab)):
        if expected == "ok":
            assert missing is None
        elif expected is None:
            assert missing is not None
        else:
            assert expected in missing


ERRORS = [
    ("app id without key", {"GITHUB_APP_ID": "1"}, "both GITHUB_APP_ID and"),
    ("key without app id", {"GITHUB_APP_PRIVATE_KEY": "k"}, "both GITHUB_APP_ID and"),
    ("token and app", {"GITHUB_TOKEN": "t", "GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "k"}, "not both"),
    ("key inline and file", {"GITHUB_APP_PRIVATE_KEY": "k", "GITHUB_APP_PRIVATE_KEY_FILE": "/x"}, "not both"),
    ("unreadable key file", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "cannot read"),
    ("api url not http", {"GITHUB_API_URL": "github.example.com"}, "GITHUB_API_URL must be an http(s) URL"),
    ("gitlab url not http", {"GITLAB_URL": "ftp://x"}, "GITLAB_URL must be an http(s) URL"),
]


@pytest.mark.parametrize("env,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_unusable_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_defaults_and_enterprise_url(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN KEY-----\nabc\n-----END KEY-----\n")
    s = load_settings({"GITHUB_API_URL": "https://ghe.example.com/api/v3/", "GITHUB_APP_ID": "7",
                       "GITHUB_APP_PRIVATE_KEY_FILE": str(key), "PROWLET_DATA_DIR": str(tmp_path)})
    assert s.github.api_url == "https://ghe.example.com/api/v3"
    assert s.github.app_private_key == key.read_text()
    assert s.gitlab.url == "https://gitlab.com"
    assert s.data_dir == tmp_path


def test_secrets_are_not_in_repr() -> None:
    s = load_settings({"GITHUB_TOKEN": "ghp_secret1", "GITHUB_WEBHOOK_SECRET": "whsecret2",
                       "GITLAB_TOKEN": "glpat_secret3", "GITLAB_WEBHOOK_SECRET": "whsecret4"})
    text = repr(s)
    for secret in ("ghp_secret1", "whsecret2", "glpat_secret3", "whsecret4"):
        assert secret not in text
    assert set(s.secrets()) == {"ghp_secret1", "whsecret2", "glpat_secret3", "whsecret4"}
