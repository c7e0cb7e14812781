"""utils/files.py: a file is replaced all at once or not at all."""

import errno
import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

import numpy as np

from neural_networks.utils import processes
from neural_networks.utils.files import (temporary_name, write_atomic, write_bytes, write_json,
                                         write_text)


def leftovers(folder):
    """Temporary files left in ``folder`` (they start with a dot)."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def _write_many(target, byte, barrier, times, errors):
    """Process worker: write ``times`` files of one repeated byte to ``target``."""
    barrier.wait()
    try:
        for _ in range(times):
            write_bytes(target, byte * 200_000)
    except Exception as error:  # reported to the parent, which fails the test
        errors.put(repr(error))


class FileTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.path = os.path.join(self.tmp, "out.txt")

    def tearDown(self):
        self._tmp.cleanup()

    def read(self, path=None):
        with open(path or self.path, "rb") as f:
            return f.read()


# ``python -c`` program: write_atomic ``sys.argv[1]``, killing its own process with
# SIGKILL once part of the file is in the temporary file.
KILLED_WRITER = """
import os, signal, sys
from neural_networks.utils.files import write_atomic
def write(f):
    f.write(b"half of it")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
write_atomic(sys.argv[1], write)
"""


class TestDeadWriters(FileTest):
    def test_the_next_write_removes_what_a_killed_writer_left(self):
        """The old code left the temporary file of a killed writer (a checkpoint's: up to
        14 MB) in the folder for good."""
        write_bytes(self.path, b"old")
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, self.path])
        self.assertEqual(killed.returncode, -signal.SIGKILL)
        dead = leftovers(self.tmp)
        self.assertEqual(len(dead), 1)
        self.assertEqual(self.read(), b"old")
        # A live writer's (this process's), one of another machine sharing the folder
        # (its machine's tag differs from this one's), and a user's file all stay.
        dead_pid = dead[0].split(".")[3]  # .out.txt.<process id>.<machine><random>.tmp
        other_machine = f"{int(processes.host_tag(), 16) ^ 1:08x}"
        kept = [temporary_name("out.txt"), f".out.txt.{dead_pid}.{other_machine}00000000.tmp",
                ".notes.tmp"]
        for name in kept:
            with open(os.path.join(self.tmp, name), "wb") as f:
                f.write(b"keep")
        write_text(os.path.join(self.tmp, "other.txt"), "another file of the folder")
        self.assertEqual(leftovers(self.tmp), sorted(kept))


class TestWriteAtomic(FileTest):
    def test_writes_and_replaces(self):
        self.assertEqual(write_atomic(self.path, lambda f: f.write(b"first")), self.path)
        self.assertEqual(self.read(), b"first")
        write_atomic(self.path, lambda f: f.write("zweite \u00e9\n"), binary=False)
        self.assertEqual(self.read(), "zweite \u00e9\n".encode("utf-8"))
        self.assertEqual(leftovers(self.tmp), [])

    def test_a_failing_write_keeps_the_old_file(self):
        write_bytes(self.path, b"old")
        for error in (RuntimeError("boom"), KeyboardInterrupt()):
            with self.subTest(error=type(error).__name__):
                def write(f, error=error):
                    f.write(b"half of the new")
                    raise error
                with self.assertRaises(type(error)):
                    write_atomic(self.path, write)
                self.assertEqual(self.read(), b"old")
                self.assertEqual(leftovers(self.tmp), [])

    def test_a_full_disk_is_a_value_error_naming_the_path(self):
        write_bytes(self.path, b"old")

        def write(f):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with self.assertRaisesRegex(ValueError, f"cannot write {self.path}: No space left"):
            write_atomic(self.path, write)
        self.assertEqual(self.read(), b"old")
        self.assertEqual(leftovers(self.tmp), [])

    def test_temporary_names_are_unique_per_process_and_per_call(self):
        seen = []

        def outer(f):
            seen.append(leftovers(self.tmp))
            f.write(b"outer")
            # A second write to the same target while the first is open (what a
            # second thread could do) must get its own temporary file.
            write_atomic(self.path, inner)

        def inner(f):
            seen.append(leftovers(self.tmp))
            f.write(b"inner")

        write_atomic(self.path, outer)
        self.assertEqual(self.read(), b"outer")
        self.assertEqual(len(seen[0]), 1)
        self.assertEqual(len(seen[1]), 2)
        for name in seen[1]:
            self.assertRegex(name, rf"^\.out\.txt\.{os.getpid()}\.[0-9a-f]+\.tmp$")
        self.assertEqual(leftovers(self.tmp), [])

    def test_threads_writing_one_target(self):
        errors = []

        def work(byte):
            try:
                for _ in range(20):
                    write_bytes(self.path, byte * 100_000)
            except Exception as error:
                errors.append(error)
        threads = [threading.Thread(target=work, args=(b,)) for b in (b"a", b"b", b"c")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        data = self.read()
        self.assertEqual(len(data), 100_000)
        self.assertEqual(len(set(data)), 1)  # one writer's whole file, never a mix
        self.assertEqual(leftovers(self.tmp), [])

    def test_processes_writing_one_target(self):
        ctx = multiprocessing.get_context("fork")
        barrier, errors = ctx.Barrier(2), ctx.Queue()
        workers = [ctx.Process(target=_write_many, args=(self.path, b, barrier, 25, errors))
                   for b in (b"x", b"y")]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
            self.assertEqual(w.exitcode, 0)
        self.assertTrue(errors.empty(), errors.get() if not errors.empty() else "")
        data = self.read()
        self.assertEqual(len(data), 200_000)
        self.assertIn(set(data), ({ord("x")}, {ord("y")}))
        self.assertEqual(leftovers(self.tmp), [])

    def test_new_files_follow_the_umask_and_old_ones_keep_their_mode(self):
        umask = os.umask(0o022)
        try:
            write_bytes(self.path, b"new")
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o644)
            os.chmod(self.path, 0o640)
            write_bytes(self.path, b"again")
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        finally:
            os.umask(umask)

    def test_a_symlink_to_a_file_is_written_through(self):
        real = os.path.join(self.tmp, "real.txt")
        write_bytes(real, b"old")
        link = os.path.join(self.tmp, "link.txt")
        os.symlink(real, link)
        write_bytes(link, b"new")
        self.assertTrue(os.path.islink(link))
        self.assertEqual(self.read(real), b"new")


class TestRefusals(FileTest):
    """What is not a regular file is never replaced, and nothing is left behind."""

    def setUp(self):
        super().setUp()
        # A writer that opened a FIFO would block: fail the test instead of hanging.
        signal.signal(signal.SIGALRM, self._timeout)
        signal.alarm(20)

    def tearDown(self):
        signal.alarm(0)
        super().tearDown()

    @staticmethod
    def _timeout(signum, frame):
        raise AssertionError("write_atomic blocked")

    def assert_refused(self, path, message):
        with self.assertRaisesRegex(ValueError, message) as caught:
            write_text(path, "x")
        self.assertIn(path, str(caught.exception))
        self.assertEqual(leftovers(self.tmp), [])

    def test_a_folder(self):
        folder = os.path.join(self.tmp, "folder")
        os.mkdir(folder)
        self.assert_refused(folder, "it is a folder")
        self.assertTrue(os.path.isdir(folder))
        self.assert_refused(folder + "/", "names a folder")

    def test_a_fifo(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        self.assert_refused(fifo, "FIFO")
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))

    def test_a_device_and_a_symlink_to_it(self):
        self.assert_refused(os.devnull, "character device")
        self.assertTrue(stat.S_ISCHR(os.stat(os.devnull).st_mode))
        link = os.path.join(self.tmp, "null")
        os.symlink(os.devnull, link)
        self.assert_refused(link, "character device")
        self.assertTrue(os.path.islink(link))

    def test_a_missing_folder_is_not_created(self):
        missing = os.path.join(self.tmp, "missing", "out.txt")
        self.assert_refused(missing, "does not exist")
        self.assertFalse(os.path.exists(os.path.dirname(missing)))

    def test_a_file_in_the_place_of_the_folder(self):
        write_bytes(self.path, b"a file")
        self.assert_refused(os.path.join(self.path, "out.txt"), "is not a folder")
        self.assertEqual(self.read(), b"a file")

    def unwritable_folder(self):
        folder = os.path.join(self.tmp, "read_only")
        os.mkdir(folder)
        os.chmod(folder, 0o500)
        if not os.access(folder, os.W_OK):
            return folder
        # Running as root, which the mode bits do not stop; sysfs refuses new files to root.
        if os.path.isdir("/sys"):
            return "/sys"
        self.skipTest("running as root and no /sys: no folder here refuses new files")

    def test_a_folder_that_cannot_be_written(self):
        path = os.path.join(self.unwritable_folder(), "out.txt")
        with self.assertRaisesRegex(ValueError, f"cannot write {path}: "):
            write_text(path, "x")
        self.assertFalse(os.path.exists(path))


class TestWrappers(FileTest):
    def test_write_text_encodes_first(self):
        write_text(self.path, "old")
        with self.assertRaises(UnicodeEncodeError):
            write_text(self.path, "caf\u00e9", encoding="ascii")
        self.assertEqual(self.read(), b"old")
        write_text(self.path, "a\r\nb\n")
        self.assertEqual(self.read(), b"a\r\nb\n")  # newlines as given

    def test_write_json_takes_numpy_values(self):
        obj = {"lr": np.float32(0.5), "epochs": np.int64(3), "shape": np.arange(3),
               "nested": [{"ok": True, "none": None}], "tuple": (1, 2)}
        write_json(self.path, obj)
        with open(self.path) as f:
            self.assertEqual(json.load(f), {"lr": 0.5, "epochs": 3, "shape": [0, 1, 2],
                                            "nested": [{"ok": True, "none": None}],
                                            "tuple": [1, 2]})

    def test_write_json_refuses_other_objects_and_writes_nothing(self):
        with self.assertRaisesRegex(ValueError, "as JSON: object is not JSON serializable"):
            write_json(self.path, {"bad": object()})
        self.assertFalse(os.path.exists(self.path))


if __name__ == "__main__":
    unittest.main()
