"""Output formats shared by every command: ``table`` (default on a terminal), ``json``, ``csv``, ``markdown``.

Data goes to stdout (or ``--output``), messages to stderr. One decorator adds ``--format`` to a
command, as sqlite-utils does, so every command offers the same choices.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from panpin import errors

FORMATS = ("table", "json", "csv", "markdown")
F = TypeVar("F", bound=Callable[..., Any])


def format_option(func: F) -> F:
    """Add ``--format`` (default: table on a terminal, json otherwise)."""
    option = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format (default: table on a terminal, json otherwise).",
    )
    return option(func)


def resolve_format(fmt: str | None, stream: object = None) -> str:
    if fmt:
        return fmt
    target = stream if stream is not None else sys.stdout
    return "table" if hasattr(target, "isatty") and target.isatty() else "json"


# Every JSON document panpin prints is an object whose first key is ``format_version``: a script
# checks it once instead of guessing a shape. It goes up only when a field changes meaning or type
# or disappears; new fields are added without a new version (docs/design.md "Output").
FORMAT_VERSION = 1


def json_doc(body: Mapping[str, object]) -> str:
    """One JSON document: ``{"format_version": 1, **body}``, indented, newline-terminated."""
    return json.dumps({"format_version": FORMAT_VERSION, **body}, indent=2, default=str) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def render_rows(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    fmt: str,
    *,
    key: str | None = None,
) -> str:
    """Render rows (dicts) in a tabular format; ``json`` wraps the list of dicts under ``key``
    in a document (:func:`json_doc`)."""
    if fmt == "json":
        if key is None:
            raise ValueError("render_rows: JSON output needs the document's key")
        return json_doc({key: list(rows)})
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return buf.getvalue()
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "markdown":

        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    body = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join([header.rstrip(), *body]) + "\n"


def check_output_path(path: str | None, option: str) -> None:
    """Refuse an output path that cannot be written, before anything asks the device.

    One ``panpin: error:`` line (exit 2) naming the option and the path: a folder, a missing
    parent folder, or a parent folder this user cannot write into.
    """
    if not path or path == "-":
        return
    import os
    from pathlib import Path

    target = Path(path).expanduser()
    if target.is_dir():
        raise errors.InputError(f"{option} {path}: is a folder; name a file in it")
    parent = target.parent
    if not parent.is_dir():
        raise errors.InputError(f"{option} {path}: folder {parent} does not exist")
    if target.exists() and not os.access(target, os.W_OK):
        raise errors.InputError(f"{option} {path}: not writable (permissions)")
    if not target.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise errors.InputError(f"{option} {path}: cannot create files in {parent} (permissions)")


def emit(text: str, output: str | None = None) -> None:
    """Write data to ``output`` (a file) or stdout."""
    if output and output != "-":
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


def message(text: str, *, quiet: bool = False) -> None:
    """A human message on stderr (never stdout, which carries data)."""
    if not quiet:
        click.echo(text, err=True)
