"""``settings``: read and change the user's settings headless (the window has a dialog)."""

from __future__ import annotations

import json

import click

from workbench.cli import cli
from workbench.cli.common import echo_json, pass_workspace
from workbench.settings import SECRET_KEYS, get_setting, mask, public_settings, set_setting
from workbench.workspace import Workspace


def _parse(value: str) -> object:
    """JSON when it parses (true, 8192, null), else the text itself."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


@cli.command("settings")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def settings_command(workspace: Workspace, key: str | None, value: str | None,
                     as_json: bool) -> None:
    """Show all settings, show KEY, or set KEY to VALUE (e.g. 'settings offline true').

    The Hub token is stored only in this machine's database and always shown masked.
    """
    db = workspace.db
    if key is None:
        values = public_settings(db)
        if as_json:
            echo_json(values)
            return
        for name, current in values.items():
            click.echo(f"{name:16} {json.dumps(current)}")
        return
    if value is not None:
        set_setting(db, key, _parse(value))
    current = get_setting(db, key)
    shown = mask(current) if key in SECRET_KEYS else current
    click.echo(json.dumps(shown) if as_json else f"{key:16} {json.dumps(shown)}")
