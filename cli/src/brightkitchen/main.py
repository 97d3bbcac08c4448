"""``brightkitchen`` — the one command line of the platform."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import typer

from bkcore.logging import setup_logging
from bkcore.settings import CoreSettings, SettingsError, load_settings

app = typer.Typer(
    help="Bright Kitchen (互联网+明厨亮灶): AI food-safety supervision for school canteens and restaurants.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.command()
def up(
    port: int = typer.Option(8080, help="HTTP port of the console and APIs (0 = any free port)."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind; use 0.0.0.0 to reach it from other machines."
    ),
    data_dir: Path = typer.Option(Path("var"), help="Where SQLite files, snapshots and the bus log live."),
    cameras: bool = typer.Option(True, help="Start the simulated kitchen cameras of the demo."),
    seed: bool = typer.Option(True, help="Seed the demo tenant (city, districts, sites, users)."),
    sim_fps: float = typer.Option(2.0, help="Frames per second each simulated camera sends to the detector."),
    log_json: bool = typer.Option(False, help="JSON logs (for log shippers) instead of readable lines."),
) -> None:
    """Run the whole platform in one process on the embedded adapters.

    SQLite files, a local object-store directory, the in-process bus and the detector on the CPU.
    Data survives a restart. Stop with Ctrl-C.
    """
    from brightkitchen.platform import Platform, PlatformOptions

    try:
        settings = load_settings(CoreSettings, data_dir=data_dir, log_json=log_json)
    except SettingsError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None
    setup_logging("brightkitchen", settings.log_level, settings.log_json)
    where = data_dir.resolve()
    options = PlatformOptions(
        host=host, port=port, seed_demo=seed, simulated_cameras=cameras, sim_fps=sim_fps
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        async with Platform(settings, options) as platform:
            if settings.gc_freeze:
                from bkcore.heap import freeze_startup_heap

                freeze_startup_heap()
            _print_banner(platform.base_url, seeded=seed)
            await stop.wait()
        typer.echo(f"stopped; data kept in {where}")

    asyncio.run(main())


def _dump_tasks() -> None:
    """``kill -USR1 <pid>``: print what every thread and asyncio task is waiting on (for a hang)."""
    import faulthandler
    import sys

    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
        with contextlib.suppress(Exception):  # a frame without line numbers must not stop the dump
            task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


def _print_banner(base: str, *, seeded: bool) -> None:
    from brightkitchen import demo_data

    typer.secho("\nBright Kitchen is up  (明厨亮灶)\n", fg="green", bold=True)
    typer.echo(f"  console         {base}/console/")
    typer.echo(f"  parents (H5)    {base}/h5/")
    typer.echo(f"  canteen kiosk   {base}/kiosk/")
    for name in ("cases", "ledger", "gateway", "detector", "public"):
        typer.echo(f"  API docs        {base}/api/{name}/docs")
    if seeded:
        typer.echo(f"\n  demo users (tenant {demo_data.TENANT_ID}):")
        for user in demo_data.USERS:
            typer.echo(f"    {user.username:<10} {user.password:<15} {user.role:<15} {user.name}")
    typer.echo("\n  Ctrl-C stops it; data stays under the data directory.\n")


@app.command("config")
def show_config() -> None:
    """List every setting shared by the services: environment variable, default, meaning."""
    for name, info in CoreSettings.model_fields.items():
        default = info.default
        if hasattr(default, "get_secret_value"):
            default = "(secret)"
        typer.echo(f"BK_{name.upper():<22} default={default!s:<22} {info.description or ''}")


def _register_subcommands() -> None:
    from brightkitchen import admin_cli, detector_cli, dlq_cli, keys_cli

    app.add_typer(admin_cli.app, name="admin")
    app.add_typer(detector_cli.app, name="detector")
    app.add_typer(dlq_cli.app, name="dlq")
    app.add_typer(keys_cli.app, name="keys")
    from brightkitchen.export_cli import export

    app.command("export")(export)


_register_subcommands()

if __name__ == "__main__":
    app()
