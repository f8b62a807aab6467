"""The simulated tenant configured as the app's tenant (shared with tests/bulk)."""

from tests.bulk.conftest import tenant  # noqa: F401 (a fixture)
