"""The README's example tests (section "In your own tests"), run as a user runs them: each
block a test file in an empty directory, pytest with the plugin as installed."""

from __future__ import annotations

import re

import pytest

from imgemu.testing import ControlError, in_process
from tests.support.plugin import readme_examples, run

EXAMPLES = readme_examples()


@pytest.fixture(scope="module")
def has_journal() -> bool:
    """Whether this emulator has the request journal the examples assert on."""
    with in_process() as emulator:
        try:
            emulator.journal.find(limit=1)
        except ControlError:
            return False
    return True


def test_there_is_an_example_for_each_protocol() -> None:
    text = "\n".join(EXAMPLES)
    assert len(EXAMPLES) == 5
    for protocol in ("openai", "seacloud", "agcloud", "aa"):
        assert f'url("{protocol}")' in text
    assert "from openai import OpenAI" in EXAMPLES[0]
    assert "httpx.Client(" in EXAMPLES[1]
    assert "QueueClient(" in EXAMPLES[1]
    assert "imgemu_app" in text
    assert "imgemu_server" in text
    assert "assert_client_behaved()" in EXAMPLES[4]


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_the_example_passes_as_written(
    pytester: pytest.Pytester, index: int, has_journal: bool
) -> None:
    code = EXAMPLES[index]
    if not has_journal:  # the journal's assertions wait for it; the rest runs as written
        code = "\n".join(line for line in code.splitlines() if ".journal." not in line)
    tests = re.findall(r"^(?:async )?def (test_\w+)", code, re.M)
    assert tests
    pytester.makepyfile(**{f"test_readme_example_{index}": code})
    result = run(pytester)
    result.assert_outcomes(passed=len(tests))
