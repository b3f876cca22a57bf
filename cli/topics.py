"""``kstreamy topics``: create topics, produce sample input and read output from a terminal.

kstreamy does not create the topics an application reads and writes (their partition counts
are the application's maximum parallelism, a decision for whoever runs it). These commands
make the first hour possible without other Kafka tools; with ``--app`` they use the
application's serdes and security settings, so what they write is what the application reads.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from kstreamy import App
from kstreamy.config import AppConfig
from kstreamy.config_sources import parse_assignments
from kstreamy.errors import KStreamyError
from kstreamy.kafka.clients import (
    StartupAdmin,
    common_settings,
    create_admin,
    wait_for_cluster,
)
from kstreamy_cli.loading import load_app
from kstreamy_cli.options import CONTEXT, Bootstrap, Command, Sets, fail, overrides
from kstreamy_cli.text_records import from_text, split_line, to_text, topic_serdes

topics_cli = typer.Typer(
    help="Create topics, produce records from stdin, read records back.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="MODULE:APP",
        help="Use this application's serdes (and its broker and security settings)",
        show_default=False,
    ),
]
Separator = Annotated[
    str,
    typer.Option(
        metavar="TEXT", help="Between key and value on a line (default: a tab)", show_default=False
    ),
]


def _config(
    app_spec: str | None, bootstrap: str | None, sets: list[str] | None
) -> tuple[AppConfig, App | None]:
    """The settings to connect with: the app's when given (code, environment), else the
    defaults and environment (``KSTREAMY_BOOTSTRAP_SERVERS``, ``KSTREAMY_SASL_PASSWORD``, ...);
    ``--set`` and ``--bootstrap-servers`` over both."""
    app = load_app(app_spec) if app_spec else None
    texts = overrides(sets)
    try:
        config = app.config if app else AppConfig.build("kstreamy-cli")
        if texts:
            config = config.with_overrides(texts)
        if bootstrap:
            config = config.with_overrides({"bootstrap_servers": bootstrap}, "--bootstrap-servers")
    except KStreamyError as exc:
        fail(exc)
    return config, app


def _client_settings(config: AppConfig) -> dict[str, object]:
    try:
        return common_settings(config)
    except KStreamyError as exc:
        fail(exc)


def _connect(config: AppConfig) -> tuple[StartupAdmin, dict[str, Any]]:
    """An admin client and the topics, or one clear error if no broker answers."""
    try:
        admin = create_admin(config)
        return admin, wait_for_cluster(admin).topics
    except KStreamyError as exc:
        fail(exc)


@topics_cli.command(cls=Command)
def create(
    names: Annotated[list[str], typer.Argument(metavar="NAME", help="Topics to create")],
    partitions: Annotated[
        int, typer.Option("--partitions", "-p", metavar="N", help="Partitions per topic")
    ] = 1,
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            metavar="KEY=VALUE",
            help="Topic config, e.g. cleanup.policy=compact; repeatable",
            show_default=False,
        ),
    ] = None,
    replication_factor: Annotated[
        int, typer.Option(metavar="N", help="Replicas per partition (-1: broker default)")
    ] = -1,
    bootstrap_servers: Bootstrap = None,
    app_spec: AppOption = None,
    sets: Sets = None,
) -> None:
    """Create topics (an existing topic is left as it is, with a note)."""
    settings, _ = _config(app_spec, bootstrap_servers, sets)
    try:
        topic_config = parse_assignments(config or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc).replace("--set", "--config")) from None
    admin, existing = _connect(settings)
    new = [n for n in names if n not in existing]
    for name in names:
        if name in existing:
            count = len(existing[name].partitions)
            typer.echo(f"{name}: exists already ({count} partitions)", err=True)
    if not new:
        return
    futures = admin.create_topics(
        [NewTopic(n, partitions, replication_factor, config=topic_config) for n in new],
        operation_timeout=30,
    )
    failed = False
    for name, future in futures.items():
        try:
            future.result()
            typer.echo(f"{name}: created ({partitions} partitions)", err=True)
        except Exception as exc:
            failed = True
            typer.secho(f"{name}: not created: {exc}", fg=typer.colors.RED, err=True)
    if failed:
        raise typer.Exit(1)


@topics_cli.command(name="list", cls=Command)
def list_topics(
    bootstrap_servers: Bootstrap = None,
    app_spec: AppOption = None,
    internal: Annotated[bool, typer.Option("--all", help="Also the broker's own topics")] = False,
    sets: Sets = None,
) -> None:
    """Print each topic with its partition count."""
    settings, _ = _config(app_spec, bootstrap_servers, sets)
    for name, meta in sorted(_connect(settings)[1].items()):
        if internal or not name.startswith("__"):
            typer.echo(f"{name}\t{len(meta.partitions)}")


@topics_cli.command(cls=Command)
def produce(
    topic: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic to write to")],
    app_spec: AppOption = None,
    separator: Separator = "\t",
    bootstrap_servers: Bootstrap = None,
    sets: Sets = None,
) -> None:
    """Produce one record per line of stdin: KEY<TAB>VALUE, or VALUE alone (no key).

    With --app, text becomes the value the application's serdes expect for the topic (JSON
    for JSON and Avro serdes, a number for int serdes) and is serialized by them; without it,
    key and value are written as UTF-8. Records are partitioned by key like Kafka's Java
    clients and kstreamy.
    """
    settings, app = _config(app_spec, bootstrap_servers, sets)
    _, existing = _connect(settings)
    if topic not in existing:
        fail(
            KStreamyError(
                f"topic {topic} does not exist; create it with `kstreamy topics "
                f"create {topic} --partitions N`"
            )
        )
    try:
        key_serde, value_serde = topic_serdes(app, topic, for_writing=True)
    except KStreamyError as exc:
        fail(exc)
    producer = Producer({**_client_settings(settings), "partitioner": "murmur2_random"})
    failures: list[str] = []
    count = 0
    for number, line in enumerate(sys.stdin, start=1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        key_text, value_text = split_line(line, separator)
        try:
            key = key_serde.serialize(from_text(key_serde, key_text))
            value = value_serde.serialize(from_text(value_serde, value_text))
        except (ValueError, KStreamyError) as exc:
            producer.flush(30)
            fail(KStreamyError(f"line {number}: {exc} ({count} records before it produced)"))
        _produce(producer, topic, key, value, failures)
        count += 1
    remaining = producer.flush(60)
    if failures or remaining:
        fail(
            KStreamyError(
                f"{len(failures) + remaining} records to {topic} failed: "
                f"{(failures or ['not acknowledged within 60s'])[0]}"
            )
        )
    typer.echo(f"produced {count} records to {topic}", err=True)


def _produce(
    producer: Producer, topic: str, key: bytes | None, value: bytes | None, failures: list[str]
) -> None:
    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(err.str())

    while True:
        try:
            producer.produce(topic, value, key, on_delivery=delivered)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)


@topics_cli.command(cls=Command)
def tail(
    topic: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic to read")],
    app_spec: AppOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading new records until Ctrl-C")
    ] = False,
    max_records: Annotated[
        int | None, typer.Option("--max", metavar="N", help="Stop after N records")
    ] = None,
    separator: Separator = "\t",
    bootstrap_servers: Bootstrap = None,
    sets: Sets = None,
) -> None:
    """Print a topic's records from the beginning, one KEY<TAB>VALUE line each.

    With --app, keys and values are decoded with the serdes the application uses for the
    topic (JSON is printed as JSON). Stops at the end of the topic unless --follow.
    """
    settings, app = _config(app_spec, bootstrap_servers, sets)
    _, existing = _connect(settings)
    if topic not in existing:
        fail(KStreamyError(f"topic {topic} does not exist"))
    try:
        key_serde, value_serde = topic_serdes(app, topic, for_writing=False)
    except KStreamyError as exc:
        fail(exc)
    partitions = sorted(existing[topic].partitions)
    consumer = Consumer(
        {
            **_client_settings(settings),
            "group.id": "kstreamy-cli-tail",  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    printed = 0
    at_end: set[int] = set()
    try:
        while max_records is None or printed < max_records:
            if not follow and len(at_end) == len(partitions):
                break
            for message in consumer.consume(500, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                        continue
                    fail(KStreamyError(f"reading {topic}: {error.str()}"))
                at_end.discard(message.partition())
                try:
                    key = to_text(key_serde.deserialize(message.key()))
                    value = to_text(value_serde.deserialize(message.value()))
                except KStreamyError as exc:
                    key, value = to_text(message.key()), f"<cannot decode: {exc}>"
                typer.echo(f"{key}{separator}{value}")
                printed += 1
                if max_records is not None and printed >= max_records:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    sys.stdout.flush()
    typer.echo(f"{printed} records from {topic}", err=True)
