"""The data-directory lock: one holder at a time, taken over once its holder is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli.data_dir_lock import LOCK_FILE, DataDirBusy, DataDirLock


def test_a_second_lock_on_the_same_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with DataDirLock(tmp_path):
        # flock belongs to an open file, so a second open in this same process conflicts too.
        with pytest.raises(DataDirBusy) as refused:
            DataDirLock(tmp_path).acquire()
    message = str(refused.value)
    assert refused.value.holder_pid == os.getpid()
    assert str(tmp_path) in message and f"pid {os.getpid()}" in message and "--data-dir" in message


def test_release_removes_the_lock_file_and_frees_the_directory(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    lock.release()
    lock.release()  # twice is harmless
    assert not (tmp_path / LOCK_FILE).exists()
    with DataDirLock(tmp_path):
        pass


def test_the_file_of_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    (tmp_path / LOCK_FILE).write_text(dead.stdout.decode() + "and more junk than a pid\n")
    with DataDirLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"


def test_a_lock_held_by_another_process_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from cli.data_dir_lock import DataDirLock; "
         f"DataDirLock(__import__('pathlib').Path({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(DataDirBusy) as refused:
            DataDirLock(tmp_path).acquire()
        assert f"pid {holder.pid} (" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    with DataDirLock(tmp_path):  # the kernel dropped the dead holder's lock
        pass


def test_a_directory_it_made_is_private_and_removed_when_left_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "farm"
    with DataDirLock(data_dir):
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert not data_dir.exists()
    with DataDirLock(data_dir):
        (data_dir / "state").write_text("kept")
    assert (data_dir / "state").read_text() == "kept" and not (data_dir / LOCK_FILE).exists()


def test_a_data_dir_that_cannot_be_locked_is_a_clear_refusal(tmp_path: Path) -> None:
    from cli.exclusive_start import StartRefused, exclusive

    not_a_dir = tmp_path / "farm"
    not_a_dir.write_text("a file where the data directory should be")
    with pytest.raises(StartRefused, match=f"cannot lock the data directory {not_a_dir}: .*--data-dir DIR"):
        with exclusive(not_a_dir, []):
            pass
