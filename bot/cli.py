"""``prowlet serve | worker | check-config | queue | commands | import-prow | simulate`` (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from bot import __version__
from bot.options import ConfigError
from bot.settings import Settings, SettingsError, load_settings


def _plugins():  # noqa: ANN202 - imported late so `--help` stays fast
    """The built-in plugins and those installed through entry points (bot.plugin_loader), with
    the installed ones that were refused and why."""
    from bot.plugin_loader import load_plugins
    from plugins import REGISTRY

    loaded = load_plugins(REGISTRY)
    return [*REGISTRY, *loaded.plugins], loaded.problems


def _registry():  # noqa: ANN202
    return _plugins()[0]


def _load(path: str | None, registry=None):  # noqa: ANN001, ANN202
    from bot.config import load_config

    return load_config(Path(path) if path else None, registry if registry is not None else _registry())


def _log_plugin_problems(problems) -> None:  # noqa: ANN001
    """One line each; the bot runs on without those plugins."""
    from bot.logs import log

    for problem in problems:
        log.error(f"plugin not loaded: {problem}")


def _config_or_exit_code(path: str | None, registry=None):  # noqa: ANN001, ANN202
    """The config at ``path`` (None: the built-in defaults), or 1 after listing its problems."""
    try:
        return _load(path, registry)
    except ConfigError as err:
        _print_problems(path or "built-in defaults", err)
        return 1


def _print_problems(source: str, err: ConfigError) -> None:
    print(f"{source}: {len(err.problems)} problem(s)", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)


def check_config(args: argparse.Namespace) -> int:
    registry, plugin_problems = _plugins()
    for problem in plugin_problems:
        print(f"plugin not loaded: {problem}", file=sys.stderr)
    config = _config_or_exit_code(args.file, registry)
    if isinstance(config, int):
        return config
    if plugin_problems:
        print(f"{args.file}: OK, but {len(plugin_problems)} installed plugin(s) could not be loaded", file=sys.stderr)
        return 1
    enabled = config.raw.plugins.enabled
    if enabled is None:
        enabled = [p.name for p in config.registry if p.default]
    print(f"{args.file}: OK ({len(enabled)} plugins enabled by default, {len(config.raw.repos)} repository rules)")
    return 0


def _unwritable(data_dir: Path) -> str | None:
    """Why prowlet cannot keep its files in ``data_dir`` (None: it can), found before anything starts."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".prowlet-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"PROWLET_DATA_DIR {data_dir} is not writable: {err.strerror or err}"
    return None


def _announce(settings, config, forges, args: argparse.Namespace, store: str) -> None:  # noqa: ANN001
    """One line an operator can check the deployment against (URLs without credentials)."""
    from bot.logs import log
    from bot.urls import redact_url

    raw = config.raw
    enabled = raw.plugins.enabled if raw.plugins.enabled is not None else [p.name for p in config.registry if p.default]
    urls = {name: forge.endpoint for name, forge in settings.forges.items()}
    log.info("prowlet starting", version=__version__, listen=f"{args.host}:{args.port}",
             config=args.config or "built-in defaults", store=store,
             forges={name: redact_url(urls[name]) for name in forges},
             plugins=sorted(enabled), merge=bool(raw.merge), jobs=sorted(job.name for job in raw.jobs),
             public_url=redact_url(settings.public_url))


def _settings_and_logging(level: str = "info") -> Settings | int:
    """The environment's settings, with logging set up to redact their secrets; or the exit code
    after saying what is wrong with them.  ``level``: unless PROWLET_LOG_LEVEL says otherwise."""
    from bot.logs import configure_logging

    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"prowlet: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.secrets(), fmt=os.environ.get("PROWLET_LOG_FORMAT", "auto"),
                      level=os.environ.get("PROWLET_LOG_LEVEL", level))
    return settings


def serve(args: argparse.Namespace) -> int:
    from bot.app import build_app, enabled_forges
    from bot.http_guard import Limits
    from bot.http_guard import serve as serve_http
    from bot.logs import log

    settings = _settings_and_logging()
    if isinstance(settings, int):
        return settings
    registry, plugin_problems = _plugins()
    _log_plugin_problems(plugin_problems)
    config = _config_or_exit_code(args.config, registry)
    if isinstance(config, int):
        return config
    from bot.store import StoreUnavailable, open_stores

    unwritable = _unwritable(settings.data_dir)
    if unwritable:
        log.error(f"prowlet: {unwritable}")
        return 2
    try:
        stores = open_stores(settings.data_dir, settings.redis_url, redis_prefix=settings.redis_prefix)
    except StoreUnavailable as err:
        log.error("cannot open the event store", error=str(err))
        return 2
    forges = enabled_forges(settings, config)
    if not forges:
        log.warning("no forge has credentials; webhooks will be refused until one is configured")
    _announce(settings, config, forges, args, stores.kind)
    # Everything imported and configured so far lives for the whole process: move it out of the
    # collector's sight so full collections stay short (bench/intake.py measured the pauses).
    gc.freeze()
    limits = Limits.from_env()  # the constants, unless a test shortens them
    app = build_app(config, forges, settings.data_dir, settings.public_url, stores,
                    dashboard_token=settings.dashboard_token, metrics_token=settings.metrics_token,
                    masked=settings.secrets(), limits=limits, job_signing_key=settings.job_signing_key)
    try:
        serve_http(app, args.host, args.port, limits, shutdown_timeout=35)
    except OSError as err:  # the address is taken, or not ours to bind: no traceback, a line and 2
        why = os.strerror(err.errno) if err.errno else str(err)
        log.error(f"prowlet: cannot listen on {args.host}:{args.port}: {why}")
        return 2
    return 0


def worker(args: argparse.Namespace) -> int:
    """Run built-in jobs queued in the shared store (Redis); statuses are posted by `prowlet serve`."""
    import asyncio

    from bot.logs import log

    settings = _settings_and_logging()
    if isinstance(settings, int):
        return settings
    if not settings.redis_url:
        print("prowlet worker: jobs are queued in Redis: set PROWLET_REDIS_URL (the same as prowlet serve's)",
              file=sys.stderr)
        return 2
    config = _config_or_exit_code(args.config)
    if isinstance(config, int):
        return config
    from bot.app import consumer_name
    from bot.ci.compose import run_worker
    from bot.store import StoreUnavailable, open_stores

    async def main() -> int:
        stores = open_stores(settings.data_dir, settings.redis_url, redis_prefix=settings.redis_prefix)
        try:
            return await run_worker(config, stores, settings.data_dir, settings.public_url, consumer=consumer_name(),
                                    masked=settings.secrets(), signing_key=settings.job_signing_key)
        finally:
            await stores.close()

    try:
        return asyncio.run(main())
    except StoreUnavailable as err:
        log.error("the shared store is unavailable", error=str(err))
        return 2


def queue(args: argparse.Namespace) -> int:
    """What is waiting, how old the oldest is, and what failed (with why); optionally retry."""
    import asyncio
    import time

    from bot.urls import redact_url
    from bot.store import StoreUnavailable, open_stores

    try:
        settings = load_settings()
        stores = open_stores(settings.data_dir, settings.redis_url, redis_prefix=settings.redis_prefix, exclusive=False)
    except (SettingsError, StoreUnavailable) as err:
        print(f"prowlet: {err}", file=sys.stderr)
        return 2
    where = redact_url(settings.redis_url) if settings.redis_url else f"{settings.data_dir}/state.sqlite3"

    async def report() -> int:
        try:
            if args.retry:
                count = await stores.events.retry_failed(None if args.retry == "all" else args.retry)
                print(f"{count} failed event(s) put back in line")
                return 0 if count or args.retry == "all" else 1
            stats = await stores.events.stats(args.limit)
        finally:
            await stores.close()
        age = f"{time.time() - stats.oldest_received_at:.0f}s" if stats.oldest_received_at else "-"
        print(f"store: {stores.kind} ({where})")
        print(f"pending: {stats.pending}  running: {stats.running}  oldest pending: {age}  failed: {stats.failed}")
        for failure in stats.recent_failures:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(failure.failed_at))
            print(f"  FAILED {failure.delivery}  {failure.order_key}  attempts={failure.attempts}  at {when}Z")
            print(f"         {failure.error}")
        if stats.failed:
            print("retry with: prowlet queue --retry DELIVERY (or --retry all)")
        return 0

    try:
        return asyncio.run(report())
    except StoreUnavailable as err:
        print(f"prowlet: {err}", file=sys.stderr)
        return 2


def commands(args: argparse.Namespace) -> int:
    from bot.help import readme_table

    config = _config_or_exit_code(args.config)
    if isinstance(config, int):
        return config
    # The built-in commands, and with --config the aliases it defines too.
    print(readme_table([*config.registry, *config.alias_plugins()], config.commands.prefix))
    return 0


def _read_yaml(path: str) -> object:
    """A YAML file's document; ConfigError naming the file when it cannot be read or parsed."""
    import yaml

    from bot.options import ConfigProblem

    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ConfigError([ConfigProblem(path, f"cannot read: {err.strerror}")]) from None
    except yaml.YAMLError as err:
        raise ConfigError([ConfigProblem(path, f"not valid YAML: {getattr(err, 'problem', None) or err}")]) from None


def import_prow(args: argparse.Namespace) -> int:
    """Write the prowlet config equivalent to a Prow plugins.yaml (and config.yaml); list on
    standard error every setting that could not be carried over, and why."""
    from bot.config import parse_config
    from bot.import_prow import import_prow as translate
    from bot.import_prow import render

    try:
        plugins = _read_yaml(args.plugins)
        core = _read_yaml(args.core) if args.core else None
    except ConfigError as err:
        _print_problems("import-prow", err)
        return 1
    registry = _registry()
    imported = translate(plugins, core, [p.name for p in registry])
    try:  # what we write must be a config prowlet accepts
        parse_config(imported.config, registry)
    except ConfigError as err:
        _print_problems("the imported config", err)
        return 1
    text = render(imported)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if imported.notes:
        print(f"{len(imported.notes)} setting(s) not carried over:", file=sys.stderr)
        for note in imported.notes:
            print(f"  {note}", file=sys.stderr)
    return 0


def simulate(args: argparse.Namespace) -> int:
    """Run a comment (or, with ``merge``, a merge pass) against the real forge, writing nothing,
    and print what prowlet would do."""
    import asyncio

    from bot.events import ItemKind

    is_merge = args.text == "merge" and args.number is None
    if not is_merge and (args.number is None or not args.user):
        print('prowlet simulate: a comment needs --number and --user (or simulate a merge pass: prowlet simulate '
              'merge --repo ...)', file=sys.stderr)
        return 2
    settings = _settings_and_logging(level="warning")  # the plan is the output, not the log
    if isinstance(settings, int):
        return settings
    config = _config_or_exit_code(args.config)
    if isinstance(config, int):
        return config
    from bot import simulate as sim

    async def run() -> int:
        simulation = sim.build(settings, config, args.forge)
        try:
            if is_merge:
                heading = [f"merge pass over {args.forge} {args.repo}", *await sim.merge_pass(simulation, args.repo)]
            else:
                kind = ItemKind.ISSUE if args.issue else ItemKind.PULL
                event = await sim.comment(simulation, args.repo, args.number, args.user, args.text, kind)
                heading = [f"comment by {args.user} on {event.ref}: {args.text!r}"]
        finally:
            simulation.close()
        sim.print_plan(simulation.plan, sys.stdout, heading)
        return 0

    try:
        return asyncio.run(run())
    except sim.SimulationError as err:
        print(f"prowlet simulate: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prowlet", description="A Prow-style review bot for GitHub and GitLab.")
    parser.add_argument("--version", action="version", version=f"prowlet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="receive webhooks and act on them")
    p.add_argument("--config", help="YAML config file (default: built-in defaults, every core plugin enabled)")
    p.add_argument("--host", default=os.environ.get("PROWLET_HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PROWLET_PORT", "8080")))
    p.set_defaults(run=serve)

    p = sub.add_parser("worker", help="run built-in jobs queued in Redis (PROWLET_REDIS_URL); no HTTP, no forge token")
    p.add_argument("--config", help="YAML config file: the same jobs and runner settings as prowlet serve's")
    p.set_defaults(run=worker)

    p = sub.add_parser("check-config", help="validate a config file; exits non-zero on problems")
    p.add_argument("file")
    p.set_defaults(run=check_config)

    p = sub.add_parser("queue", help="show pending and failed events in the store (PROWLET_DATA_DIR / PROWLET_REDIS_URL)")
    p.add_argument("--retry", metavar="DELIVERY", help="put a failed event (its delivery key, or 'all') back in line")
    p.add_argument("--limit", type=int, default=20, help="how many recent failures to list (default 20)")
    p.set_defaults(run=queue)

    p = sub.add_parser("commands", help="print the command table (Markdown) generated from the plugins")
    p.add_argument("--config", help="also list the aliases (config-defined commands) of this config file")
    p.set_defaults(run=commands)
    p = sub.add_parser("import-prow", help="write a prowlet config equivalent to a Prow plugins.yaml (and "
                                           "config.yaml), listing what could not be carried over")
    p.add_argument("plugins", help="Prow's plugins.yaml")
    p.add_argument("core", nargs="?", help="Prow's config.yaml (presubmits → jobs, Tide → merge)")
    p.add_argument("-o", "--output", help="write the config to this file (default: standard output)")
    p.set_defaults(run=import_prow)

    p = sub.add_parser("simulate", help="what prowlet would do for a comment (or a merge pass), read from the "
                                        "forge and writing nothing")
    p.add_argument("text", metavar="COMMENT|merge",
                   help='the comment\'s text ("/lgtm"), or the word merge for one merge pass over --repo')
    from bot.forge.drivers import DRIVERS

    p.add_argument("--forge", choices=[driver.name for driver in DRIVERS], default=DRIVERS[0].name)
    p.add_argument("--repo", required=True, help="owner/repo (GitLab: group/.../project)")
    p.add_argument("--number", type=int, help="the PR/MR (or, with --issue, issue) number the comment is on")
    p.add_argument("--user", help="who writes the comment")
    p.add_argument("--issue", action="store_true", help="the number is an issue's")
    p.add_argument("--config", help="YAML config file (default: built-in defaults)")
    p.set_defaults(run=simulate)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
