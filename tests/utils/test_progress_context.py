"""Progress bars fit the context: off in logs (stderr not a terminal) unless forced, delayed
2 s unless asked for, and an explicit request always wins."""

from __future__ import annotations

import importlib
import io
from typing import Any

import pytest

from xaikit.utils.progress_bars import DELAY, progress, progress_enabled, set_progress

progress_module = importlib.import_module("xaikit.utils.progress_bars")  # the module, not the function


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_tqdm(iterable: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return iterable

    monkeypatch.setattr(progress_module, "tqdm", fake_tqdm)
    monkeypatch.delenv("XAIKIT_PROGRESS", raising=False)
    set_progress(None)
    return calls


def test_no_bar_in_a_log_file_and_a_delayed_bar_on_a_terminal(recorded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert list(progress(range(5))) == list(range(5)) and recorded == []
    assert not progress_enabled()
    monkeypatch.setattr("sys.stderr", Terminal())
    assert list(progress(range(5))) == list(range(5))
    assert recorded[-1]["delay"] == DELAY == 2.0


def test_explicit_requests_win_and_show_at_once(recorded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stderr", io.StringIO())
    list(progress(range(5), enabled=True))
    assert recorded[-1]["delay"] == 0.0
    monkeypatch.setenv("XAIKIT_PROGRESS", "1")
    assert progress_enabled()
    monkeypatch.setattr("sys.stderr", Terminal())
    monkeypatch.setenv("XAIKIT_PROGRESS", "0")
    assert not progress_enabled() and progress_enabled(True)
    set_progress(True)
    try:
        assert progress_enabled() and not progress_enabled(False)
    finally:
        set_progress(None)
