"""Process-wide tuning (``core.runtime``)."""

from __future__ import annotations

import subprocess
import sys


def test_serving_freezes_what_exists_once_and_collects_young_objects_less_often() -> None:
    # In a child process: the tuning is process-wide.
    code = (
        "import gc; from core import runtime; before = gc.get_freeze_count(); runtime.tune_process(); "
        "frozen = gc.get_freeze_count(); runtime.tune_process(); "
        "print(before == 0, frozen > 1000, gc.get_freeze_count() == frozen, gc.get_threshold()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "50000"]
