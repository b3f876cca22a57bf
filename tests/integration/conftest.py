"""Fixtures shared by the integration tests of savepoints and rescaling."""

from __future__ import annotations

import pytest

from tests_support.savepoint_pipeline import PIPELINES, Pipeline


@pytest.fixture
def pipeline(kind, bootstrap, make_topic, unique_name, instances, tmp_path):
    """``pipeline(**settings)``: a Pipeline of the parametrized ``kind`` on topics of its own."""

    def make(**settings) -> Pipeline:
        return Pipeline(
            PIPELINES[kind], bootstrap, make_topic, unique_name, instances, tmp_path, **settings
        )

    return make
