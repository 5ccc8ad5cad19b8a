"""Helpers of the workspace browser tests: an App process that may take long to start on a
busy machine (the App's import alone can take 20 s when the CI runner's cores are shared)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import AppProcess


class PatientApp(AppProcess):
    """:class:`AppProcess` that waits up to 120 s for the App's first answer."""

    def wait_ready(self, timeout: float = 120.0) -> None:
        super().wait_ready(timeout)


@pytest.fixture(name="start_app")
def patient_start_app() -> Iterator[Any]:
    """Like conftest's ``start_app`` (every App is stopped after the test), patiently."""
    started: list[PatientApp] = []

    def start(store_uri: str, *args: str) -> PatientApp:
        app = PatientApp(store_uri, *args)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
