"""The CLI reference page, generated from the click commands themselves (never copied by hand).

Every command and group under `rolloutlab` gets a section: its usage line, its help text as `--help`
prints it, and a table of its arguments and options (type, default, help). A command or option added to
the code appears here at the next `mkdocs build`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import click


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `command` (itself first), with its path of names, in sorted order."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], (*path, name))


def anchor(path: tuple[str, ...]) -> str:
    """The page anchor of a command's section (what MkDocs' toc makes of its heading)."""
    return "-".join(("rolloutlab", *path))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "–"


def _context(path: tuple[str, ...], command: click.Command, root: click.Command) -> click.Context:
    parent = None
    for depth in range(len(path)):  # a chain of contexts, so usage lines read `rolloutlab models build`
        name = "rolloutlab" if depth == 0 else path[depth - 1]
        parent = click.Context(root if depth == 0 else _lookup(root, path[:depth]), info_name=name, parent=parent)
    return click.Context(command, info_name=path[-1] if path else "rolloutlab", parent=parent,
                         max_content_width=100)


def _lookup(root: click.Command, path: tuple[str, ...]) -> click.Command:
    command = root
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _help_text(command: click.Command, ctx: click.Context) -> str:
    """The help as --help prints it (click's \\b blocks keep their lines), in a text block."""
    formatter = click.HelpFormatter(width=100)
    command.format_help_text(ctx, formatter)
    command.format_epilog(ctx, formatter)
    return textwrap.dedent(formatter.getvalue()).strip("\n").rstrip()


def _unset(value: object) -> bool:
    """No default: None, empty, or click's own 'not given' sentinel (click ≥ 8.3)."""
    return value in (None, (), [], False) or type(value).__name__ == "Sentinel"


def _params_table(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument):
            kind = f"{param.type.name}{' …' if param.nargs == -1 else ''}"
            rows.append(f"| `{param.human_readable_name}` | argument{'' if param.required else ' (optional)'} "
                        f"| {_cell(kind)} | – | – |")
            continue
        assert isinstance(param, click.Option)
        if param.hidden:
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        if param.is_flag and not param.secondary_opts:
            kind = "flag"
        else:
            kind = param.make_metavar(ctx)  # what --help shows: INTEGER RANGE, [a|b|c], SECONDS, ...
            if param.multiple:
                kind += " (repeatable)"
        default = param.default if not callable(param.default) else None
        shown = "–" if _unset(default) or param.is_flag else f"`{default}`"
        rows.append(f"| {names} | option{' (required)' if param.required else ''} | {_cell(str(kind))} | {shown} "
                    f"| {_cell(param.help or '')} |")
    if not rows:
        return []
    return ["| name | kind | type | default | help |", "|---|---|---|---|---|", *rows]


def render(root: click.Command) -> str:
    """The whole reference page as Markdown."""
    lines = ["# Command-line reference", "",
             "Generated from the `rolloutlab` click commands at build time: what `--help` says, in one page.", ""]
    lines += ["| command | what it does |", "|---|---|"]
    for path, command in walk(root):
        if path:
            lines.append(f"| [`rolloutlab {' '.join(path)}`](#{anchor(path)}) | {_cell(command.get_short_help_str(90))} |")
    lines.append("")
    for path, command in walk(root):
        ctx = _context(path, command, root)
        level = "#" * min(2 + max(len(path) - 1, 0), 4)
        lines += [f"{level} rolloutlab {' '.join(path)} {{ #{anchor(path)} }}".replace("  ", " "), "",
                  "```text", " ".join(command.collect_usage_pieces(ctx)).join([f"Usage: {ctx.command_path} ", ""]),
                  "", _help_text(command, ctx), "```", ""]
        table = _params_table(command, ctx)
        if table:
            lines += [*table, ""]
    return "\n".join(lines) + "\n"
