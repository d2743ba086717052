"""Fixtures the core tests share."""

from tests.support.engine_rig import rig  # noqa: F401 - the engine rig fixture
