"""Shared fixtures.

Tests that read ``../shared/data`` use the ``shared_data`` fixture: it skips when the folder is
absent (a user's clone) but fails when ``CI=true``, so CI can never silently skip them.
"""
import os
from pathlib import Path

import pytest

#: the tests folder (conftest and the helper modules and scripts the tests share) and the repository
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED_DATA = Path(os.environ.get('VNSEG_SHARED_DATA', REPO.parent / 'shared' / 'data'))


def require_shared_data(*parts):
    """Return ``SHARED_DATA/<parts>``; skip (or fail under CI=true) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f'shared test data not found: {path}'
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(msg + ' (CI=true: shared data is required)')
        pytest.skip(msg)
    return path


@pytest.fixture(scope='session')
def shared_data():
    """Path of ``../shared/data``."""
    return require_shared_data()


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='module')
def one_torch_thread():
    """Run a module's in-process model steps on one torch thread, restored afterwards. Large models
    on tiny inputs gain little from intra-op threads, and on a CPU shared with other jobs the
    threads oversubscribe it (several times slower)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class ListSink:
    """A polygon sink (the writers' ``add(geom, props)``) that keeps what it is given in ``items``."""

    def __init__(self):
        self.items = []

    def add(self, geom, props):
        self.items.append((geom, props))
