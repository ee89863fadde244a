"""The README stays true: its test command is what CI runs, its command table is what /help says."""

from __future__ import annotations

import re
from pathlib import Path

from bot.help import readme_table
from bot.config import parse_config
from plugins import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_install_and_test_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    install, tests = blocks[0], blocks[1]
    assert "pip install ." in install and "prowlet serve" in install
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r'TEST_COMMAND="(.*)"', ci).group(1)
    assert command in tests


def test_command_table_is_generated_from_the_plugins() -> None:
    config = parse_config({}, REGISTRY)
    assert readme_table(REGISTRY, config.commands.prefix) in README
