"""The ``imgemu`` command as a whole: every command and flag explained, no raw markup."""

from __future__ import annotations

import argparse

import pytest

from imgemu.cli import parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    root = parser()
    (sub,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_is_listed_with_help() -> None:
    root = parser()
    (sub,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    assert set(helps) == {"serve", "generate", "status", "cancel", "contract"}
    assert all(helps.values()), helps


@pytest.mark.parametrize("command", ["serve", "generate", "status", "cancel", "contract"])
def test_every_flag_has_help_text(command: str) -> None:
    sub = _commands()[command]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"imgemu {command} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize("command", [None, "serve", "generate", "status", "cancel", "contract"])
def test_help_shows_no_raw_markup(command: str | None) -> None:
    text = (_commands()[command] if command else parser()).format_help()
    for markup in ("``", ":class:", ":func:", "[bold", "[/"):
        assert markup not in text, f"{markup!r} in imgemu {command or ''} --help"


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([], "COMMAND"),
        (["serve", "--port", "x"], "--port"),
        (["generate", "--provider", "nope"], "--provider"),
        (["contract", "--provider", "openai"], "--target"),
    ],
)
def test_misuse_is_one_line_naming_the_flag(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("imgemu")
    assert names in err
    assert "usage:" not in err
