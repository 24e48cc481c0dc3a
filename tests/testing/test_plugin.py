"""The plugin in a user's project: loaded by its entry point, in a fresh pytest run."""

from __future__ import annotations

pytest_plugins = ["pytester"]

PROJECT_TESTS = """
import pytest
from reactivex import operators as ops


def test_uses_marbles(marbles):
    source = marbles.cold("-a|")
    marbles.assert_marbles(source.pipe(ops.map(str.upper)), "-A|")


def test_forgets_to_flush(marbles):
    marbles.expect(marbles.cold("-a|"), "-a|")


@pytest.mark.qix_app(frames={})
def test_marker_is_known():
    pass


async def test_fake_engine_is_there(fake_engine):
    assert fake_engine.url.startswith("ws://127.0.0.1:")
"""


def test_a_project_gets_the_fixtures_and_the_marker(pytester):
    """With rxqix installed a project has the fixtures and the qix_app marker."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\naddopts = --strict-markers\n")
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        ["*marbles: expectations were set but never checked; call flush()*"]
    )


def test_the_marker_is_documented(pytester):
    """`pytest --markers` lists qix_app with its arguments."""
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.qix_app(frames=None, files=None, name='app')*"]
    )
