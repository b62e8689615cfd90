"""docs/cli.md shows every subcommand's current --help (scripts/cli_help.py writes it)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_line_page_matches_the_parser():
    spec = importlib.util.spec_from_file_location("cli_help", ROOT / "scripts" / "cli_help.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.PAGE.read_text()
    assert module.render(page) == page, "docs/cli.md is stale: run python scripts/cli_help.py"
