from kstreamy import App


def test_describe_shows_subtopologies_processors_and_topics():
    app = App("describe-me")
    stream = app.stream("clicks", key_serde="str", value_serde="json", name="clicks")
    stream.filter(lambda k, v: True, name="only-valid").to("valid-clicks")
    app.stream("other").to("elsewhere")
    text = app.describe()
    assert text.splitlines()[0] == "Application: describe-me"
    assert "  Sub-topology: 0" in text and "  Sub-topology: 1" in text
    assert "    Source: clicks (topics: [clicks])\n      --> only-valid" in text
    assert "    Processor: only-valid [filter]" in text
    assert "(topic: valid-clicks)" in text


def test_subtopologies_are_connected_components():
    app = App("components")
    a = app.stream("a")
    b = app.stream("b")
    a.merge(b).to("ab")
    app.stream("c").to("cc")
    subs = app.topology.subtopologies()
    assert [s.source_topics for s in subs] == [["a", "b"], ["c"]]
    assert subs[0].sink_topics == ["ab"]


def test_describe_shows_only_the_steps_the_user_built():
    app = App("counted")
    counts = app.stream("words", key_serde="str").group_by_key().count(store="counts")
    counts.to("word-counts", value_serde="int")
    text = app.describe()
    assert "merge" not in text
    assert [line.strip() for line in text.splitlines()[3:]] == [
        "Source: source-1 (topics: [words])",
        "--> counts",
        "Processor: counts [aggregate] (stores: [counts])",
        "--> sink-2",
        "<-- source-1",
        "Sink: sink-2 (topic: word-counts)",
        "--> none",
        "<-- counts",
    ]


def test_a_named_to_stream_step_is_shown_and_multi_input_merges_stay():
    app = App("named-steps")
    table = app.table("rows", name="rows", key_serde="str")
    table.to_stream(name="row-updates").to("updates")
    left = app.stream("a", key_serde="str")
    left.merge(app.stream("b", key_serde="str"), name="both").to("ab")
    text = app.describe()
    assert "    Processor: row-updates [to_stream]\n      --> sink-" in text
    assert "    Processor: both [merge]" in text
