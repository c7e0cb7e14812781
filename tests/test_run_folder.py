"""run_folder.py: claiming and releasing run folders, the lock a live run holds
(one of many processes locking at once gets it; a lock left by a dead process is
taken over, a live one's is not, and the refusal says how to clear a stale one),
and the text files every run writes (the pictures are test_plots.py's)."""

import csv
import errno
import multiprocessing
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np

from neural_networks import run_folder
from neural_networks.run_folder import (LOCK_NAME, METRIC_COLUMNS, check_name, claim,
                                        read_args, release, take_over, unlock, write_args,
                                        write_metrics)
from neural_networks.utils import processes


def _claim_after(barrier, save_dir, results):
    """Process worker: claim a default-named folder as soon as every worker is ready."""
    barrier.wait()
    results.put(claim(save_dir, None, "run"))


def lock_at_once(folder, barrier, results):
    """A child: lock ``folder`` right after the barrier; hold it until all have tried."""
    barrier.wait()
    try:
        run_folder.lock(folder)
        results.put("ok")
        barrier.wait()
        run_folder.unlock(folder)
    except FileExistsError:
        results.put("refused")
        barrier.wait()


def race(target, path, n):
    """Start ``n`` processes running ``target(path, barrier, results)`` at the same
    moment (a barrier); return what each put in ``results``."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(n), context.Queue()
    children = [context.Process(target=target, args=(path, barrier, results)) for _ in range(n)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in range(n)]
    for child in children:
        child.join(timeout=60)
    return outcomes


def hold_lock(test, folder):
    """Lock ``folder`` for a live child process that lives until ``test`` ends."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    test.addCleanup(holder.wait)
    test.addCleanup(holder.stdin.close)
    with open(os.path.join(folder, run_folder.LOCK_NAME), "w") as f:
        f.write(str(holder.pid))


class FolderTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.save_dir = os.path.join(self.tmp, "experiments")

    def tearDown(self):
        self._tmp.cleanup()

    def touch(self, *parts, text="x"):
        path = os.path.join(*parts)
        with open(path, "w") as f:
            f.write(text)
        return path


class TestClaim(FolderTest):
    def test_default_names_count_up_and_each_folder_is_new(self):
        paths = [claim(self.save_dir, None, "run") for _ in range(3)]
        self.assertEqual([os.path.basename(p) for p in paths], ["run", "run_2", "run_3"])
        for path in paths:
            self.assertTrue(os.path.isdir(path))
        # An existing folder, even an empty one, is never handed out as a default:
        # another run may have just made it.
        release(paths[1])
        os.mkdir(os.path.join(self.save_dir, "run_4"))
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_2"))
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_5"))

    def test_a_file_with_the_default_name_is_skipped(self):
        os.makedirs(self.save_dir)
        self.touch(self.save_dir, "run")
        self.assertEqual(claim(self.save_dir, None, "run"), os.path.join(self.save_dir, "run_2"))

    def test_overwrite_without_a_name_reuses_the_default(self):
        first = claim(self.save_dir, None, "run")
        self.touch(first, "log.json")
        self.assertEqual(claim(self.save_dir, None, "run", overwrite=True), first)
        self.assertTrue(os.path.isfile(os.path.join(first, "log.json")))

    def test_a_given_name(self):
        path = claim(self.save_dir, "mine")
        self.assertEqual(path, os.path.join(self.save_dir, "mine"))
        self.assertTrue(os.path.isdir(path))
        self.assertEqual(claim(self.save_dir, "mine"), path)  # still empty: reused
        self.touch(path, "metrics.csv", text="an earlier run")
        with self.assertRaisesRegex(FileExistsError, f"{path} already holds a run.*--overwrite"):
            claim(self.save_dir, "mine")
        self.assertEqual(os.listdir(path), ["metrics.csv"])
        self.assertEqual(claim(self.save_dir, "mine", overwrite=True), path)
        with open(os.path.join(path, "metrics.csv")) as f:
            self.assertEqual(f.read(), "an earlier run")  # reused, not emptied

    def test_never_a_path_that_is_not_a_folder(self):
        os.makedirs(self.save_dir)
        path = self.touch(self.save_dir, "taken")
        for overwrite in (False, True):
            with self.assertRaisesRegex(ValueError, f"{path} exists and is not a folder"):
                claim(self.save_dir, "taken", overwrite=overwrite)
        self.assertTrue(os.path.isfile(path))
        # Nor a symbolic link, even to an empty folder: a run needs a folder of its own.
        target = os.path.join(self.save_dir, "elsewhere")
        os.mkdir(target)
        link = os.path.join(self.save_dir, "link")
        os.symlink(target, link)
        for overwrite in (False, True):
            with self.assertRaisesRegex(ValueError, f"{link} is a symbolic link \\(to "
                                                    f"{target}\\), not a folder of its own"):
                claim(self.save_dir, "link", overwrite=overwrite)
        self.assertEqual(os.readlink(link), target)

    def test_names_must_be_plain_folder_names(self):
        for bad in ("", ".", "..", "a/b", "../a", "/abs", "a\\b", None, 3):
            with self.subTest(name=bad):
                with self.assertRaisesRegex(ValueError, "plain folder name"):
                    check_name(bad)
                if bad is not None:
                    with self.assertRaisesRegex(ValueError, "plain folder name"):
                        claim(self.save_dir, bad)
                with self.assertRaisesRegex(ValueError, "plain folder name"):
                    claim(self.save_dir, None, default_name=bad)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "a")))

    def test_a_name_too_long_for_the_file_system(self):
        with self.assertRaisesRegex(ValueError, "is too long: 300 bytes.*at most"):
            claim(self.save_dir, "x" * 300)
        with self.assertRaisesRegex(ValueError, "is too long"):
            claim(self.save_dir, None, default_name="y" * 300)

    def test_save_dir_is_created_but_must_be_a_folder(self):
        nested = os.path.join(self.save_dir, "a", "b")
        self.assertEqual(claim(nested, None, "run"), os.path.join(nested, "run"))
        a_file = self.touch(self.tmp, "not_a_folder")
        with self.assertRaisesRegex(ValueError, f"save_dir {a_file} is a file"):
            claim(a_file, "run")

    def test_a_save_dir_that_cannot_be_written(self):
        folder = os.path.join(self.tmp, "read_only")
        os.mkdir(folder)
        os.chmod(folder, 0o500)
        if os.access(folder, os.W_OK):
            # Running as root, which the mode bits do not stop; sysfs refuses even root.
            folder = "/sys"
            if not os.path.isdir(folder):
                self.skipTest("running as root and no /sys: no folder here refuses new ones")
        with self.assertRaisesRegex(ValueError, f"cannot create the run folder .* in {folder}"):
            claim(folder, "run")

    def test_processes_racing_for_a_default_name_get_different_folders(self):
        ctx = multiprocessing.get_context("fork")
        for trial in range(15):
            save_dir = os.path.join(self.tmp, f"race{trial}")
            os.mkdir(save_dir)
            barrier, results = ctx.Barrier(3), ctx.Queue()
            workers = [ctx.Process(target=_claim_after, args=(barrier, save_dir, results))
                       for _ in range(3)]
            for w in workers:
                w.start()
            paths = [results.get(timeout=60) for _ in workers]
            for w in workers:
                w.join(60)
                self.assertEqual(w.exitcode, 0)
            self.assertEqual(sorted(os.path.basename(p) for p in paths),
                             ["run", "run_2", "run_3"], f"trial {trial}")


class TestTakeOver(FolderTest):
    """The course's Logger's folder; the Logger's tests cover the races and refusals."""

    def test_the_named_folder_every_time_with_earlier_runs_moved_aside(self):
        moves = []
        path, moved = take_over(self.save_dir, "run", on_move=lambda *m: moves.append(m))
        self.assertEqual((path, moved, moves), (os.path.join(self.save_dir, "run"), None, []))
        self.assertEqual(os.listdir(path), [LOCK_NAME])  # locked for this process
        self.touch(path, "log.json", text="first")
        again, moved = take_over(self.save_dir, "run", on_move=lambda *m: moves.append(m))
        self.assertEqual(again, path)
        self.assertEqual(moved, os.path.join(self.save_dir, "run_2"))
        self.assertEqual(moves, [(path, moved)])
        self.assertEqual(os.listdir(moved), ["log.json"])  # the lock did not go with it
        with open(os.path.join(moved, "log.json")) as f:
            self.assertEqual(f.read(), "first")
        unlock(path)
        self.assertEqual(os.listdir(path), [])

    def test_names_must_be_plain_folder_names(self):
        for bad in ("a/b", "..", ""):
            with self.subTest(name=bad), self.assertRaisesRegex(ValueError, "plain folder name"):
                take_over(self.save_dir, bad)


class TestRelease(FolderTest):
    def test_removes_only_an_empty_folder(self):
        empty = claim(self.save_dir, "empty")
        self.assertTrue(release(empty))
        self.assertFalse(os.path.exists(empty))
        self.assertFalse(release(empty))  # already gone
        used = claim(self.save_dir, "used")
        self.touch(used, "args.json")
        self.assertFalse(release(used))
        self.assertTrue(os.path.isfile(os.path.join(used, "args.json")))
        self.assertTrue(os.path.isdir(self.save_dir))


class TestArgs(FolderTest):
    def setUp(self):
        super().setUp()
        self.folder = claim(self.save_dir, "run")

    def test_round_trip(self):
        args = {"settings": {"lr": np.float64(0.1), "epochs": np.int64(3)}, "layers": [1, 2]}
        self.assertEqual(write_args(self.folder, args), os.path.join(self.folder, "args.json"))
        self.assertEqual(read_args(self.folder),
                         {"settings": {"lr": 0.1, "epochs": 3}, "layers": [1, 2]})

    def test_missing_or_broken_args_are_value_errors(self):
        path = os.path.join(self.folder, "args.json")
        with self.assertRaisesRegex(ValueError, f"cannot read {path}: No such file"):
            read_args(self.folder)
        self.touch(path, text="{not json")
        with self.assertRaisesRegex(ValueError, f"{path} is not valid JSON"):
            read_args(self.folder)
        self.touch(path, text="[1, 2]")
        with self.assertRaisesRegex(ValueError, "a JSON object, got list"):
            read_args(self.folder)


class TestMetrics(FolderTest):
    def setUp(self):
        super().setUp()
        self.folder = claim(self.save_dir, "run")

    def read_metrics(self):
        with open(os.path.join(self.folder, "metrics.csv"), newline="") as f:
            rows = list(csv.reader(f))
        return rows[0], rows[1:]

    def test_floats_round_trip_exactly(self):
        values = [0.1 + 0.2, 1 / 3, 1e-17, np.float64(2 / 3), np.float32(0.1), 123456.789012345]
        rows = [{"epoch": i + 1, "train_loss": v, "train_accuracy": 1 - v, "val_loss": v / 7,
                 "val_accuracy": float(i) / 9, "seconds": v * 3} for i, v in enumerate(values)]
        write_metrics(self.folder, rows)
        header, lines = self.read_metrics()
        self.assertEqual(tuple(header), METRIC_COLUMNS)
        self.assertEqual([line[0] for line in lines], [str(i + 1) for i in range(len(values))])
        for row, line in zip(rows, lines, strict=True):
            for key, cell in zip(METRIC_COLUMNS[1:], line[1:], strict=True):
                self.assertEqual(float(cell), float(row[key]), key)

    def test_no_validation_gives_empty_cells(self):
        write_metrics(self.folder, [
            {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.75, "seconds": 2.0},
            {"epoch": 2, "train_loss": 0.25, "train_accuracy": 0.875, "val_loss": None,
             "val_accuracy": "", "seconds": 2.5},
        ])
        _, lines = self.read_metrics()
        self.assertEqual(lines, [["1", "0.5", "0.75", "", "", "2.0"],
                                 ["2", "0.25", "0.875", "", "", "2.5"]])

    def test_unknown_columns_and_values_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"got also \['val_acc'\]"):
            write_metrics(self.folder, [{"epoch": 1, "val_acc": 0.5}])
        with self.assertRaisesRegex(ValueError, "expected a number or nothing"):
            write_metrics(self.folder, [{"epoch": 1, "train_loss": "0.5"}])
        self.assertFalse(os.path.exists(os.path.join(self.folder, "metrics.csv")))


class TestLock(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.folder = tmp.name

    def test_a_live_holder_refuses_others(self):
        holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                  stdin=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        with open(os.path.join(self.folder, run_folder.LOCK_NAME), "w") as f:
            f.write(f"{holder.pid}\n")
        with self.assertRaisesRegex(FileExistsError, f"in use by another run \\(process {holder.pid}\\)"):
            run_folder.lock(self.folder)
        run_folder.unlock(self.folder)  # not ours: left alone
        self.assertTrue(os.path.exists(os.path.join(self.folder, run_folder.LOCK_NAME)))

    def test_the_private_file_lies_beside_the_folder_or_inside_where_that_is_read_only(self):
        # The lock is written to a private file and linked into place. Beside the
        # folder, so a run moving the folder aside never carries it; inside where the
        # folder around cannot be written (nobody can move the folder then either).
        # Either way nothing is left but the lock.
        folder = os.path.join(self.folder, "run")
        os.mkdir(folder)
        written = []
        write_new = run_folder._write_new

        def record(path, text, refuse_outside=False):
            written.append(os.path.dirname(path))
            if refuse_outside and os.path.dirname(path) != folder:
                raise OSError(errno.EROFS, "Read-only file system", path)
            return write_new(path, text)

        for refuse_outside, where in ((False, [self.folder]), (True, [self.folder, folder])):
            with self.subTest(refuse_outside=refuse_outside):
                written.clear()
                with mock.patch.object(run_folder, "_write_new",
                                       lambda p, t: record(p, t, refuse_outside)):
                    run_folder.lock(folder)
                self.assertEqual(written, where)
                self.assertEqual(os.listdir(folder), [run_folder.LOCK_NAME])
                self.assertEqual(sorted(os.listdir(self.folder)), ["run"])
                with open(os.path.join(folder, run_folder.LOCK_NAME)) as f:
                    self.assertEqual(int(f.readline()), os.getpid())
                run_folder.unlock(folder)

    def test_a_dead_holder_is_taken_over(self):
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        lock = os.path.join(self.folder, run_folder.LOCK_NAME)
        with open(lock, "w") as f:
            f.write(dead.stdout)
        run_folder.lock(self.folder)
        with open(lock) as f:
            self.assertEqual(int(f.readline()), os.getpid())  # then its machine and start
        run_folder.lock(self.folder)  # taking it again is harmless
        run_folder.unlock(self.folder)
        self.assertEqual(os.listdir(self.folder), [])

    def test_a_lock_that_names_no_process_is_not_taken_over(self):
        # An empty lock is what another process's lock looked like while it was being
        # written (the old code took it for a dead one, and two runs shared a folder).
        for content in ("", "garbage"):
            with self.subTest(content=content):
                lock = os.path.join(self.folder, run_folder.LOCK_NAME)
                with open(lock, "w") as f:
                    f.write(content)
                with self.assertRaisesRegex(FileExistsError, "names no process"):
                    run_folder.lock(self.folder)
                with open(lock) as f:
                    self.assertEqual(f.read(), content)
                os.remove(lock)

    def live_process(self):
        """The id of a live process that is no run (it ends with the test)."""
        holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                  stdin=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        return holder.pid

    def write_lock(self, text):
        path = os.path.join(self.folder, run_folder.LOCK_NAME)
        with open(path, "w") as f:
            f.write(text)
        return path

    @unittest.skipUnless(os.path.exists("/proc/self/stat"), "process start times come "
                         "from Linux's /proc")
    def test_a_lock_whose_process_id_now_names_another_process_is_taken_over(self):
        """A run killed long ago left its lock; its process id now belongs to an unrelated
        live process. The old code refused the folder until that process ended."""
        pid = self.live_process()
        started = processes.start_mark(pid)
        boot, ticks = started.rsplit(":", 1)
        path = self.write_lock(f"{pid}\nhost {processes.host_tag()}\nstarted {boot}:"
                               f"{int(ticks) - 1}\n")
        run_folder.lock(self.folder)
        with open(path) as f:
            self.assertEqual(f.readline(), f"{os.getpid()}\n")
        run_folder.unlock(self.folder)
        # The lock of that very process holds.
        self.write_lock(f"{pid}\nhost {processes.host_tag()}\nstarted {started}\n")
        with self.assertRaisesRegex(FileExistsError, f"in use by another run \\(process {pid}\\)"):
            run_folder.lock(self.folder)

    def test_the_refusal_says_how_to_clear_a_stale_lock(self):
        pid = self.live_process()
        for text, where in ((f"{pid}\n", ""),  # an older version's lock: the id alone
                            # Another machine's process cannot be asked: it holds.
                            (f"{pid}\nhost {int(processes.host_tag(), 16) ^ 1:08x}\n",
                             " on another machine")):
            with self.subTest(where=where):
                path = self.write_lock(text)
                with self.assertRaises(FileExistsError) as refused:
                    run_folder.lock(self.folder)
                self.assertEqual(str(refused.exception), (
                    f"{self.folder} is in use by another run (process {pid}{where}); wait for "
                    f"it to finish or choose another name. If no run uses the folder (a lock "
                    f"left by a run that was killed), delete {path}"))

    def test_many_processes_locking_at_once(self):
        for trial in range(10):
            with self.subTest(trial=trial):
                folder = os.path.join(self.folder, str(trial))
                os.mkdir(folder)
                outcomes = race(lock_at_once, folder, n=4)
                self.assertEqual(outcomes.count("ok"), 1, outcomes)
                self.assertEqual(os.listdir(folder), [])  # the winner unlocked; no leftovers


class TestLocked(FolderTest):
    """``locked``: the one way a run starts holding its folder's lock."""

    def test_kept_when_the_start_succeeds_given_back_when_it_fails(self):
        folder = claim(self.save_dir, "run")
        with run_folder.locked(folder):
            self.touch(folder, "args.json")
        self.assertEqual(sorted(os.listdir(folder)), [LOCK_NAME, "args.json"])  # still held
        self.assertFalse(run_folder.in_use(folder))  # by this process
        unlock(folder)
        given_back = []
        with self.assertRaisesRegex(ValueError, "no data"), \
                run_folder.locked(folder, lambda f: given_back.append(sorted(os.listdir(f)))):
            raise ValueError("no data")
        # The undo ran with the lock still there; the error is the one raised.
        self.assertEqual(given_back, [[LOCK_NAME, "args.json"]])
        # By default the lock alone is let go.
        with self.assertRaises(KeyboardInterrupt), run_folder.locked(folder):
            raise KeyboardInterrupt
        self.assertEqual(os.listdir(folder), ["args.json"])

    def test_the_undo_runs_when_the_lock_cannot_be_taken(self):
        # A folder just claimed, then refused, is the caller's to give back (release).
        folder = claim(self.save_dir, "run")
        hold_lock(self, folder)
        undone = []
        with self.assertRaisesRegex(FileExistsError, "in use by another run"), \
                run_folder.locked(folder, undone.append):
            self.fail("the block runs only with the lock held")
        self.assertEqual(undone, [folder])
        self.assertEqual(os.listdir(folder), [LOCK_NAME])  # the other's lock, left alone

    def test_a_failing_undo_does_not_hide_the_error(self):
        folder = claim(self.save_dir, "run")

        def undo(folder):
            raise OSError("the disk is gone")

        with self.assertRaisesRegex(ValueError, "bad setting"), run_folder.locked(folder, undo):
            raise ValueError("bad setting")


class TestLayout(unittest.TestCase):
    def test_metric_columns(self):
        self.assertEqual(run_folder.METRIC_COLUMNS, ("epoch", "train_loss", "train_accuracy",
                                                     "val_loss", "val_accuracy", "seconds"))


if __name__ == "__main__":
    unittest.main()
