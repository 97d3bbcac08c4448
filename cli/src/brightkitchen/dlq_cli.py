"""``brightkitchen dlq …``: list dead letters and replay them to their source topic.

Thin typer wrappers over ``bkcore.bus.replay``; the bus is the one the services use, chosen by the same
settings (``BK_BUS``, ``BK_KAFKA_BOOTSTRAP``, ``BK_DATA_DIR``): the embedded bus file under the data
directory, or Kafka.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import typer

from bkcore.bus.base import TOPICS
from bkcore.bus.replay import DeadLetter, DeadLetterStore, list_dead_letters, replay, source_topic_of
from bkcore.settings import BusKind, CoreSettings, SettingsError, load_settings

app = typer.Typer(
    help="Dead letters (<topic>.dlq): list them, and replay them to their topic once the cause is fixed.",
    no_args_is_help=True,
)

TopicOption = typer.Option(
    None, "--topic", "-t", help="A topic (or its .dlq); repeat for several. Default: every topic."
)
DataDirOption = typer.Option(None, help="Embedded mode's data directory (default: BK_DATA_DIR or ./var).")


def _topics(given: list[str] | None) -> list[str]:
    if not given:
        return sorted(TOPICS)
    try:
        return [source_topic_of(t) for t in given]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--topic") from None


def _settings(data_dir: Path | None) -> CoreSettings:
    try:
        return load_settings(CoreSettings, **({"data_dir": data_dir} if data_dir else {}))
    except SettingsError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None


@asynccontextmanager
async def _bus(settings: CoreSettings) -> AsyncIterator[DeadLetterStore]:
    if settings.bus == BusKind.KAFKA:
        from bkcore.bus.kafka import KafkaBus

        kafka = KafkaBus(settings.kafka_bootstrap, "brightkitchen-dlq", create_topics=False)
        await kafka.start()
        try:
            yield kafka
        finally:
            await kafka.stop()
        return
    from bkcore.bus.inproc import InProcessBus

    path = (settings.data_dir / "bus.sqlite").resolve()
    if not path.exists():
        typer.secho(f"no embedded bus at {path} (wrong --data-dir?)", fg="red", err=True)
        raise typer.Exit(2)
    inproc = InProcessBus(path)
    try:
        await inproc.start()
    except sqlite3.OperationalError as exc:
        typer.secho(
            f"cannot open the embedded bus {path} ({exc}): a running platform holds it. Stop "
            "`brightkitchen up`, run this again, then start the platform: its consumers take the "
            "replayed events.",
            fg="red",
            err=True,
        )
        raise typer.Exit(3) from None
    try:
        yield inproc
    finally:
        await inproc.stop()


def _line(letter: DeadLetter, what: str) -> str:
    group = letter.group or "-"
    reason = f"  ({letter.skip_reason})" if letter.skip_reason else ""
    return (
        f"{what:<12} {letter.where:<28} event={letter.event_id or '?'} group={group} "
        f"error={letter.error[:160]!r}{reason}"
    )


@app.command("list")
def list_command(
    topic: list[str] | None = TopicOption,
    all_: bool = typer.Option(False, "--all", help="Also show dead letters replayed before."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """List dead letters: topic/partition/offset, event id, the group that gave up, the error."""
    topics, settings = _topics(topic), _settings(data_dir)

    async def main() -> None:
        async with _bus(settings) as bus:
            for name in topics:
                letters = await list_dead_letters(bus, name)
                shown = [d for d in letters if all_ or not d.replayed]
                typer.echo(f"{name}.dlq: {len(shown)} {'stored' if all_ else 'to replay'}")
                for d in shown:
                    typer.echo("  " + _line(d, "replayed" if d.replayed else "pending"))

    asyncio.run(main())


@app.command("replay")
def replay_command(
    topic: list[str] | None = TopicOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be replayed."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Publish dead letters back to their topic, each once.

    Same bytes, same event ids: consumer groups that handled an event before skip it through their
    inbox; the group that gave up handles it now. A second run only takes what was dead-lettered since.
    Undecodable ones, and ones a handler wrote itself after handling the event, are listed and skipped.
    """
    topics, settings = _topics(topic), _settings(data_dir)

    async def main() -> None:
        async with _bus(settings) as bus:
            for name in topics:
                report = await replay(
                    bus, name, dry_run=dry_run, progress=lambda d, what: typer.echo("  " + _line(d, what))
                )
                verb = "would replay" if dry_run else "replayed"
                typer.echo(
                    f"{name}: {verb} {report.replayed}, skipped {report.skipped}, "
                    f"replayed before {report.already}"
                )

    asyncio.run(main())
