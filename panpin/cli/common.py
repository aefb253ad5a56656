"""Plumbing shared by commands: global options → device settings → a transport."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from panpin.settings import DeviceSettings, Overrides, Settings, load_settings, resolve_device

if TYPE_CHECKING:
    from panpin.cli import GlobalOptions


def global_options(ctx: click.Context) -> GlobalOptions:
    from panpin.cli import GlobalOptions

    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def overrides(opts: GlobalOptions) -> Overrides:
    return Overrides(
        host=opts.host,
        api_key_file=opts.api_key_file,
        ca_file=opts.ca_file,
        fingerprint=opts.fingerprint,
        insecure=opts.insecure,
        location=opts.location,
        admin=opts.admin,
        record=opts.record,
        record_scrub_hosts=opts.record_scrub_hosts,
    )


def settings(ctx: click.Context) -> Settings:
    """The settings of this invocation: the config file is read once, however many devices."""
    root = ctx.find_root()
    cached = root.meta.get("panpin.settings")
    if isinstance(cached, Settings):
        return cached
    opts = global_options(ctx)
    loaded = load_settings(opts.config, opts.state)
    root.meta["panpin.settings"] = loaded
    return loaded


def one_device(ctx: click.Context) -> DeviceSettings:
    """The single device a command works on (``--host`` or one ``--device``)."""
    opts = global_options(ctx)
    if len(opts.device) > 1 or opts.all_devices:
        raise click.UsageError("this command works on one device; give one --device or --host")
    name = opts.device[0] if opts.device else None
    return resolve_device(settings(ctx), name, overrides(opts))


def fleet(ctx: click.Context) -> list[DeviceSettings]:
    """Every device named by ``--device`` (repeatable) or ``--all``; else the one device."""
    opts = global_options(ctx)
    conf = settings(ctx)
    if opts.all_devices:
        names = sorted(conf.devices)
        if not names:
            raise click.UsageError("--all: the config names no devices")
    elif opts.device:
        names = list(dict.fromkeys(opts.device))
    else:
        return [resolve_device(conf, None, overrides(opts))]
    return [resolve_device(conf, name, overrides(opts)) for name in names]
