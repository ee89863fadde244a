"""Environment settings: which forges are enabled, and clear errors for unusable values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bot.settings import SettingsError, load_settings


def _pem(key: object) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                             serialization.NoEncryption()).decode()


RSA_KEY = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_KEY = _pem(ec.generate_private_key(ec.SECP256R1()))

ENABLED = [
    ("nothing set", {}, None, None),
    ("github token", {"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET": "s"}, "ok", None),
    ("github without secret", {"GITHUB_TOKEN": "t"}, "GITHUB_WEBHOOK_SECRET", None),
    ("github app", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": RSA_KEY, "GITHUB_WEBHOOK_SECRET": "s"}, "ok", None),
    ("github app, key with literal \\n", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": RSA_KEY.replace("\n", "\\n"),
                                         "GITHUB_WEBHOOK_SECRET": "s"}, "ok", None),
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
    ("malformed app key", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "k"}, "is not a PEM-encoded private key"),
    ("truncated app key", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": RSA_KEY[:200]},
     "is not a PEM-encoded private key"),
    ("app key not RSA", {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": EC_KEY}, "is not an RSA key"),
]


@pytest.mark.parametrize("env,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_unusable_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_defaults_and_enterprise_url(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(RSA_KEY)
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


def test_a_password_in_a_url_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"GITLAB_URL": "ftp://bot:hunter2@gitlab.example.com"})
    assert "hunter2" not in str(err.value)
    s = load_settings({"GITLAB_URL": "https://bot:hunter2@gitlab.example.com"})
    assert "hunter2" in s.secrets()  # so the log filter masks it wherever it appears


def test_a_malformed_key_is_not_quoted_in_the_error() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nsecretbits"})
    assert "secretbits" not in str(err.value)


def test_dashboard_and_metrics_tokens_are_secrets() -> None:
    s = load_settings({"PROWLET_DASHBOARD_TOKEN": "dash-tok-1", "PROWLET_METRICS_TOKEN": "metrics-tok-2"})
    assert (s.dashboard_token, s.metrics_token) == ("dash-tok-1", "metrics-tok-2")
    assert "dash-tok-1" not in repr(s) and "metrics-tok-2" not in repr(s)
    assert {"dash-tok-1", "metrics-tok-2"} <= set(s.secrets())
