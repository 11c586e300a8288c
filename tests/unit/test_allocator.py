import platform

import pytest

from alerts.allocator import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tune_allocator_takes_effect_on_glibc():
    assert tune_allocator() is True


def test_tune_allocator_reports_failure_without_raising(monkeypatch):
    import ctypes

    def missing(*_args, **_kwargs):
        raise OSError("no libc here")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert tune_allocator() is False
