from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import RunningStack, run_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from run_stack(tmp_path_factory.mktemp("stack"))
