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
