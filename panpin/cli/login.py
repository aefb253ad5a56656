"""``panpin login``: keygen once, key written to a mode-0600 file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from panpin.cli.common import global_options
from panpin.cli.output import message


@click.command()
@click.option(
    "--host",
    "login_host",
    metavar="HOST[:PORT]",
    help="Device to log in to (default: the global --host).",
)
@click.option(
    "--user", required=True, metavar="USER", help="Admin user (a dedicated API admin is best)."
)
@click.option(
    "--key-file",
    metavar="FILE",
    help="Where to write the key (default: ~/.config/panpin/HOST.key, or the global --api-key-file).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
@click.pass_context
def login(
    ctx: click.Context, login_host: str | None, user: str, key_file: str | None, force: bool
) -> None:
    """Generate an API key once and store it in a file only you can read.

    The password is prompted for (or read from PANPIN_PASSWORD) and never stored. Generating a
    key may end the user's other API sessions on PAN-OS, so do this once, not per run.
    """
    from panpin.panos.xmlapi import XmlApi
    from panpin.settings import DeviceSettings, default_key_file, write_key_file

    opts = global_options(ctx)
    host = login_host or opts.host
    if not host:
        raise click.UsageError("login needs --host HOST")
    path = key_file or opts.api_key_file or str(default_key_file(host))
    target = Path(path).expanduser()
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; pass --force to replace it")
    password = os.environ.get("PANPIN_PASSWORD") or click.prompt(
        f"Password for {user}@{host}", hide_input=True, err=True
    )
    device = DeviceSettings(
        name=host,
        host=host,
        ca_file=opts.ca_file,
        fingerprint=opts.fingerprint,
        insecure=bool(opts.insecure),
    )
    with XmlApi(device.connection()) as api:
        key = api.keygen(user, password)
    written = write_key_file(str(target), key)
    message(f"API key for {user}@{host} written to {written} (mode 0600)", quiet=opts.quiet)
    message(
        f"use it with: panpin --host {host} --api-key-file {written} --admin {user} …",
        quiet=opts.quiet,
    )
