"""``settings``: read and change the user's settings headless (the window has a dialog).

Values are checked by the setting's own definition (:mod:`workbench.settings`) and refused
with the values allowed. Unknown options are taken as values, so ``settings threads -3`` is
refused by the range, not by the option parser.
"""

from __future__ import annotations

import json

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.settings import (
    DEFINITIONS,
    SECRET_KEYS,
    definition,
    get_setting,
    mask,
    public_settings,
    reset_setting,
    set_setting,
)
from workbench.workspace import Workspace


def _shown(key: str, value: object) -> object:
    return mask(value) if key in SECRET_KEYS else value


@cli.command("settings", context_settings={"ignore_unknown_options": True})
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--reset", is_flag=True, help="Forget KEY's value and use its default.")
@click.option("--describe", is_flag=True, help="Show every setting with its allowed values.")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def settings_command(workspace: Workspace, key: str | None, value: str | None, reset: bool,
                     describe: bool, as_json: bool) -> None:
    """Show all settings, show KEY, or set KEY to VALUE (e.g. 'settings offline true').

    'auto' (or an empty VALUE) leaves a setting that allows it to its automatic choice.
    The Hub token is stored only in this machine's database and always shown masked.
    """
    db = workspace.db
    if describe:
        _describe(as_json)
        return
    if key is None:
        values = public_settings(db)
        if as_json:
            echo_json(values)
            return
        for name, current in values.items():
            click.echo(f"{name:16} {json.dumps(current, ensure_ascii=False)}")
        return
    definition(key)  # an unknown key is refused before anything else
    if reset:
        reset_setting(db, key)
    elif value is not None:
        set_setting(db, key, value)
    shown = _shown(key, get_setting(db, key))
    text = json.dumps(shown, ensure_ascii=False)
    click.echo(text if as_json else f"{key:16} {text}")


def _describe(as_json: bool) -> None:
    rows = [{"key": s.key, "group": s.group, "label": s.label,
             "allowed": s.allowed_with_automatic(), "default": s.default, "help": s.help}
            for s in DEFINITIONS]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['key']:16} {row['allowed']} (default: {json.dumps(row['default'])})")
        click.echo(f"{'':16} {row['label']}: {row['help']}")
