"""The Processor API (ProcessFunction, ProcessorContext, keyed state), through the TestDriver."""

import pytest

from kstreamy import (
    App,
    JsonSerde,
    ProcessFunction,
    RecordError,
    StoreSpec,
    StrSerde,
    TopologyError,
)
from kstreamy.testing import TestDriver


def _app(**config) -> App:
    return App("papi-test", **config)


def _driver(function: ProcessFunction, stores=("s",), name="p", **config) -> TestDriver:
    app = _app(**config)
    app.stream("in", key_serde="str", value_serde="json").process(
        function, stores=list(stores), name=name
    ).to("out")
    return TestDriver(app)


class Recorder(ProcessFunction):
    """Records its lifecycle on the class, since each task works on its own copy."""

    events: list = []
    instances: list = []

    def __init__(self) -> None:
        self.seen = 0
        self.opened = False

    def open(self, ctx):
        self.opened = True
        type(self).instances.append(self)
        type(self).events.append(("open", id(self)))

    def process(self, key, value, ctx):
        self.seen += 1
        ctx.emit(key, {"seen": self.seen, "partition": ctx.partition})

    def close(self):
        type(self).events.append(("close", id(self)))


@pytest.fixture
def recorder():
    Recorder.events = []
    Recorder.instances = []
    return Recorder


def test_open_process_close_lifecycle(recorder):
    function = recorder()
    driver = _driver(function, stores=(), name=None)
    driver.pipe("in", "a", 1)
    driver.pipe("in", "a", 2)
    [copy] = recorder.instances
    assert copy is not function
    assert copy.opened and copy.seen == 2
    assert recorder.events == [("open", id(copy))]
    driver.close()
    assert recorder.events == [("open", id(copy)), ("close", id(copy))]
    assert driver.read("out") == [
        ("a", {"seen": 1, "partition": 0}),
        ("a", {"seen": 2, "partition": 0}),
    ]


def test_each_task_gets_its_own_copy_of_the_function(recorder):
    function = recorder()
    driver = _driver(function, stores=(), name=None)
    driver.pipe("in", "a", 1, partition=0)
    driver.pipe("in", "b", 1, partition=1)
    driver.pipe("in", "c", 1, partition=1)
    driver.pipe("in", "d", 1, partition=0)
    driver.pipe("in", "e", 1, partition=1)
    first, second = recorder.instances
    assert first is not second and function not in (first, second)
    assert (first.seen, second.seen) == (2, 3)
    assert function.seen == 0 and not function.opened  # the original is never run
    assert driver.read("out") == [
        ("a", {"seen": 1, "partition": 0}),
        ("b", {"seen": 1, "partition": 1}),
        ("c", {"seen": 2, "partition": 1}),
        ("d", {"seen": 2, "partition": 0}),
        ("e", {"seen": 3, "partition": 1}),
    ]
    driver.close()
    closed = sorted(i for event, i in recorder.events if event == "close")
    assert closed == sorted([id(first), id(second)])


def test_record_metadata_and_emit_timestamps():
    class Meta(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.emit(key, [ctx.topic, ctx.partition, ctx.offset, ctx.timestamp])
            ctx.emit(key, "later", timestamp=ctx.timestamp + 60)
            ctx.emit(key, "same")  # the override applied to one record only

    driver = _driver(Meta(), stores=(), name=None)
    driver.pipe("in", "a", 0, timestamp=10.5, partition=1)
    driver.pipe("in", "a", 0, timestamp=11.0, partition=1)
    driver.pipe("in", "a", 0, timestamp=12.25, partition=0)
    records = driver.records("out")
    assert [(r.value, r.timestamp) for r in records] == [
        (["in", 1, 0, 10.5], 10.5),
        ("later", 70.5),
        ("same", 10.5),
        (["in", 1, 1, 11.0], 11.0),
        ("later", 71.0),
        ("same", 11.0),
        (["in", 0, 0, 12.25], 12.25),
        ("later", 72.25),
        ("same", 12.25),
    ]


def test_emit_can_change_keys_and_emit_several_records():
    class Split(ProcessFunction):
        def process(self, key, value, ctx):
            for word in value.split():
                ctx.emit(word, key)

    app = _app()
    app.stream("in", key_serde="str", value_serde="str").process(Split()).to("out")
    driver = TestDriver(app)
    driver.pipe("in", "line", "x y")
    driver.pipe("in", "empty", "")
    assert driver.read("out") == [("x", "line"), ("y", "line")]


def test_store_view_get_put_delete_items_and_contains():
    class Kv(ProcessFunction):
        def process(self, key, value, ctx):
            store = ctx.store("s")
            if value["op"] == "put":
                store.put(key, value["v"])
            elif value["op"] == "delete":
                store.delete(key)
            elif value["op"] == "put-none":
                store.put(key, None)
            ctx.emit(
                key,
                {
                    "get": store.get(key),
                    "default": store.get("nope", "dflt"),
                    "in": key in store,
                    "items": [list(kv) for kv in store.items()],
                },
            )

    spec = StoreSpec("s", "str", "json")
    driver = _driver(Kv(), stores=(spec,))
    driver.pipe("in", "b", {"op": "put", "v": {"n": 2}})
    driver.pipe("in", "a", {"op": "put", "v": 1})
    driver.pipe("in", "b", {"op": "get"})
    driver.pipe("in", "a", {"op": "delete"})
    driver.pipe("in", "b", {"op": "put-none"})
    assert [v for _, v in driver.read("out")] == [
        {"get": {"n": 2}, "default": "dflt", "in": True, "items": [["b", {"n": 2}]]},
        {"get": 1, "default": "dflt", "in": True, "items": [["a", 1], ["b", {"n": 2}]]},
        {"get": {"n": 2}, "default": "dflt", "in": True, "items": [["a", 1], ["b", {"n": 2}]]},
        {"get": None, "default": "dflt", "in": False, "items": [["b", {"n": 2}]]},
        {"get": None, "default": "dflt", "in": False, "items": []},
    ]
    assert dict(driver.store("s").items()) == {}


def test_store_can_be_seeded_and_inspected_through_the_driver():
    class Lookup(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.emit(key, ctx.store("s").get(key, "unknown"))

    driver = _driver(Lookup())
    driver.store("s").put("a", "seeded")
    driver.pipe("in", "a", None)
    driver.pipe("in", "b", None)
    assert driver.read("out") == [("a", "seeded"), ("b", "unknown")]


def test_value_state_is_scoped_to_the_current_key():
    class Count(ProcessFunction):
        def process(self, key, value, ctx):
            count = ctx.value_state("s", "count")
            other = ctx.value_state("s", "other-name")
            if value == "clear":
                count.clear()
            else:
                count.set(count.get(0) + 1)
            ctx.emit(key, [count.get(), other.get("unset")])

    driver = _driver(Count())
    for key, value in (("a", 1), ("b", 1), ("a", 1), ("a", "clear"), ("a", 1), ("b", 1)):
        driver.pipe("in", key, value)
    assert driver.read("out") == [
        ("a", [1, "unset"]),
        ("b", [1, "unset"]),
        ("a", [2, "unset"]),
        ("a", [None, "unset"]),
        ("a", [1, "unset"]),
        ("b", [2, "unset"]),
    ]


def test_value_state_set_none_clears():
    class Last(ProcessFunction):
        def process(self, key, value, ctx):
            last = ctx.value_state("s")
            previous = last.get("none yet")
            last.set(value)
            ctx.emit(key, previous)

    driver = _driver(Last())
    for value in (1, None, 2):
        driver.pipe("in", "a", value)
    assert driver.read("out") == [("a", "none yet"), ("a", 1), ("a", "none yet")]


def test_list_state_add_update_clear_per_key():
    class Lists(ProcessFunction):
        def process(self, key, value, ctx):
            items = ctx.list_state("s", "items")
            if value == "clear":
                items.clear()
            elif value == "reverse":
                items.update(list(reversed(items.get())))
            elif value == "empty":
                items.update([])
            else:
                items.add(value)
            ctx.emit(key, items.get())

    driver = _driver(Lists())
    steps = [("a", 1), ("b", "x"), ("a", 2), ("a", "reverse"), ("b", "clear"), ("a", "empty")]
    for key, value in steps:
        driver.pipe("in", key, value)
    assert driver.read("out") == [
        ("a", [1]),
        ("b", ["x"]),
        ("a", [1, 2]),
        ("a", [2, 1]),
        ("b", []),
        ("a", []),
    ]
    assert dict(driver.store("s").items()) == {}  # empty lists take no space


def test_map_state_put_get_items_keys_remove_clear_per_key():
    class Maps(ProcessFunction):
        def process(self, key, value, ctx):
            entries = ctx.map_state("s", "entries")
            op = value["op"]
            if op == "put":
                entries.put(value["k"], value["v"])
            elif op == "remove":
                entries.remove(value["k"])
            elif op == "clear":
                entries.clear()
            ctx.emit(
                key,
                {
                    "items": [list(kv) for kv in entries.items()],
                    "keys": list(entries.keys()),
                    "has_x": "x" in entries,
                    "x": entries.get("x", "-"),
                },
            )

    driver = _driver(Maps())
    steps = [
        ("a", {"op": "put", "k": "y", "v": 2}),
        ("a", {"op": "put", "k": "x", "v": 1}),
        ("b", {"op": "put", "k": "x", "v": 9}),
        ("a", {"op": "put", "k": "x", "v": 3}),
        ("a", {"op": "remove", "k": "y"}),
        ("b", {"op": "clear"}),
        ("a", {"op": "get"}),
    ]
    for key, value in steps:
        driver.pipe("in", key, value)
    assert driver.read("out") == [
        ("a", {"items": [["y", 2]], "keys": ["y"], "has_x": False, "x": "-"}),
        ("a", {"items": [["x", 1], ["y", 2]], "keys": ["x", "y"], "has_x": True, "x": 1}),
        ("b", {"items": [["x", 9]], "keys": ["x"], "has_x": True, "x": 9}),
        ("a", {"items": [["x", 3], ["y", 2]], "keys": ["x", "y"], "has_x": True, "x": 3}),
        ("a", {"items": [["x", 3]], "keys": ["x"], "has_x": True, "x": 3}),
        ("b", {"items": [], "keys": [], "has_x": False, "x": "-"}),
        ("a", {"items": [["x", 3]], "keys": ["x"], "has_x": True, "x": 3}),
    ]


def test_keyed_states_of_different_kinds_and_names_do_not_collide():
    class Mixed(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.value_state("s", "v").set(value)
            ctx.list_state("s", "v2").add(value)
            ctx.map_state("s", "m").put(str(value), value)
            ctx.map_state("s", "m2").put("other", -1)
            ctx.emit(
                key,
                [
                    ctx.value_state("s", "v").get(),
                    ctx.list_state("s", "v2").get(),
                    dict(ctx.map_state("s", "m").items()),
                ],
            )

    driver = _driver(Mixed())
    driver.pipe("in", "a", 1)
    driver.pipe("in", "ab", 2)  # a key that extends another key shares no state with it
    driver.pipe("in", "a", 3)
    assert driver.read("out") == [
        ("a", [1, [1], {"1": 1}]),
        ("ab", [2, [2], {"2": 2}]),
        ("a", [3, [1, 3], {"1": 1, "3": 3}]),
    ]


def test_state_is_per_task():
    class Count(ProcessFunction):
        def process(self, key, value, ctx):
            count = ctx.value_state("s")
            count.set(count.get(0) + 1)
            ctx.emit(key, count.get())

    driver = _driver(Count())
    driver.pipe("in", "a", 0, partition=0)
    driver.pipe("in", "a", 0, partition=1)
    driver.pipe("in", "a", 0, partition=0)
    assert driver.read("out") == [("a", 1), ("a", 1), ("a", 2)]


def test_stores_are_ready_in_open():
    class Warm(ProcessFunction):
        def open(self, ctx):
            ctx.store("s").put("warm", True)

        def process(self, key, value, ctx):
            ctx.emit(key, ctx.store("s").get("warm"))

    driver = _driver(Warm())
    driver.pipe("in", "a", 0)
    assert driver.read("out") == [("a", True)]


def test_using_an_undeclared_store_raises_a_clear_key_error():
    class Sneaky(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.store(value)

    app = _app()
    stream = app.stream("in", key_serde="str", value_serde="str")
    stream.group_by_key().count(name="counts")
    stream.process(Sneaky(), stores=["mine"], name="sneaky").to("out")
    driver = TestDriver(app)
    for store in ("counts", "nowhere"):
        with pytest.raises(RecordError) as info:
            driver.pipe("in", "a", store)
        cause = info.value.__cause__
        assert isinstance(cause, KeyError)
        assert cause.args[0] == (
            f"store {store!r} was not given to this process step (stores=[mine])"
        )
    driver.pipe("in", "a", "mine")  # declared: fine


@pytest.mark.parametrize(
    "use",
    [
        lambda ctx: ctx.value_state("other"),
        lambda ctx: ctx.list_state("other"),
        lambda ctx: ctx.map_state("other"),
    ],
)
def test_keyed_state_in_an_undeclared_store_raises(use):
    class Uses(ProcessFunction):
        def process(self, key, value, ctx):
            use(ctx)

    driver = _driver(Uses())
    with pytest.raises(RecordError, match=r"KeyError: .*store 'other' was not given"):
        driver.pipe("in", "a", 0)


def test_process_step_with_stores_needs_a_name():
    app = _app()
    stream = app.stream("in")
    with pytest.raises(TopologyError, match="a process step with stores needs name="):
        stream.process(Recorder(), stores=["s"])
    assert app.topology.stores == {}  # nothing registered by the failed call
    stream.process(Recorder())  # no stores: no name needed


def test_process_needs_a_process_function():
    app = _app()
    with pytest.raises(TopologyError, match="needs a ProcessFunction instance"):
        app.stream("in").process(lambda k, v, ctx: None)


def test_default_store_is_rocksdb_with_changelog_and_json():
    app = _app()
    app.stream("in").process(Recorder(), stores=["s"], name="p")
    spec = app.topology.stores["s"]
    assert (spec.backend, spec.changelog) == ("rocksdb", True)
    assert (spec.key_serde.name, spec.value_serde.name) == ("json", "json")
    assert app.topology.internal_topics() == {"papi-test-s-changelog": "changelog"}


@pytest.mark.parametrize(
    "spec",
    [
        StoreSpec("s", "str", "json", backend="memory", changelog=False),
        StoreSpec("s", StrSerde(), JsonSerde(), backend="memory", changelog=False),
    ],
    ids=["serde-names", "serde-instances"],
)
def test_store_spec_memory_without_changelog(spec):
    class Put(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.store("s").put(key, value)

    app = _app()
    app.stream("in", key_serde="str", value_serde="json").process(Put(), stores=[spec], name="p")
    stored = app.topology.stores["s"]
    assert (stored.backend, stored.changelog) == ("memory", False)
    assert (stored.key_serde.name, stored.value_serde.name) == ("str", "json")
    assert stored.changelog_topic("papi-test") is None
    assert app.topology.internal_topics() == {}
    driver = TestDriver(app)
    driver.pipe("in", "a", {"x": [1]})
    assert dict(driver.store("s").items()) == {"a": {"x": [1]}}
    # keys are encoded with the spec's key serde (str: raw UTF-8, not JSON)
    task = next(iter(driver._tasks.values()))
    assert [k for k, _ in task.state.stores["s"].items()] == [b"a"]


def test_store_spec_with_an_unknown_backend_or_serde_is_rejected():
    app = _app()
    with pytest.raises(TopologyError, match="backend must be 'rocksdb' or 'memory'"):
        spec = StoreSpec("s", "str", "str", backend="disk")
        app.stream("in").process(Recorder(), stores=[spec], name="p")
    with pytest.raises(Exception, match="unknown serde 'yaml'"):
        StoreSpec("s", "str", "yaml")


def test_two_process_steps_can_share_a_store_by_name():
    class Write(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.store("shared").put(key, value)
            ctx.emit(key, value)

    class Read(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.emit(key, ctx.store("shared").get(key))

    app = _app()
    app.stream("in", key_serde="str", value_serde="json").process(
        Write(), stores=["shared"], name="write"
    ).map_values(lambda v: None).process(Read(), stores=["shared"], name="read").to("out")
    assert len(app.topology.subtopologies()) == 1
    driver = TestDriver(app)
    driver.pipe("in", "a", 5)
    assert driver.read("out") == [("a", 5)]


def test_group_by_key_after_process_is_treated_as_after_a_key_change():
    class Rekey(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.emit(value, key)

    app = _app()
    stream = app.stream("in", key_serde="str", value_serde="str").process(Rekey())
    with pytest.raises(TopologyError, match="group_by_key after a key-changing step"):
        stream.group_by_key()


def test_state_views_are_made_once_per_name_and_kept():
    views: dict[str, list] = {}

    class Collect(ProcessFunction):
        def process(self, key, value, ctx):
            for label, make in (
                ("value", lambda: ctx.value_state("s", "v")),
                ("value-other-name", lambda: ctx.value_state("s", "w")),
                ("value-other-serde", lambda: ctx.value_state("s", "v", serde="str")),
                ("list", lambda: ctx.list_state("s", "l")),
                ("map", lambda: ctx.map_state("s", "m")),
                ("store", lambda: ctx.store("s")),
            ):
                views.setdefault(label, []).extend([make(), make()])

    driver = _driver(Collect())
    driver.pipe("in", "a", 1)
    driver.pipe("in", "b", 2)
    for label, made in views.items():
        assert len(made) == 4 and all(view is made[0] for view in made), label
    distinct = {id(made[0]) for made in views.values()}
    assert len(distinct) == len(views)


class _CountingKeys(StrSerde):
    def __init__(self) -> None:
        self.serialized = 0

    def serialize(self, value):
        self.serialized += 1
        return super().serialize(value)


def test_the_key_is_serialized_once_per_record_however_many_states_are_used():
    keys = _CountingKeys()

    class Many(ProcessFunction):
        def process(self, key, value, ctx):
            ctx.value_state("s", "v").set(value)
            ctx.value_state("s", "w").set(ctx.value_state("s", "v").get() + 1)
            ctx.list_state("s", "l").add(value)
            ctx.map_state("s", "m").put("x", value)
            ctx.emit(key, [ctx.value_state("s", "w").get(), ctx.list_state("s", "l").get()])

    app = _app()
    app.stream("in", key_serde="str", value_serde="json").with_serdes(key_serde=keys).process(
        Many(), stores=["s"], name="many"
    ).to("out", key_serde="str")
    driver = TestDriver(app)
    for key, value in (("a", 1), ("b", 10), ("a", 2)):
        driver.pipe("in", key, value)
    assert driver.read("out") == [("a", [2, [1]]), ("b", [11, [10]]), ("a", [3, [1, 2]])]
    assert keys.serialized == 3
