"""Logger: the files it writes, and the course's folder ``save_dir/model_name/``
taken again and again with every earlier run moved aside whole."""

import contextlib
import errno
import gc
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from neural_networks.logs import Logger
from neural_networks.run_folder import LOCK_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def epoch_log(i):
    return {
        "loss": {"train": 1.0 / (i + 1), "validate": 1.2 / (i + 1)},
        "error": {"train": 0.5 / (i + 1), "validate": 0.6 / (i + 1)},
        "params": {"0.W": float(i)},
    }


def _log_after(barrier, save_dir, k, results):
    """Process worker: start a Logger of run ``run`` as soon as every worker is ready,
    log one epoch and report the folder it got, or the error."""
    barrier.wait()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            logger = Logger("run", {"worker": k}, {}, save=True, save_dir=save_dir)
        logger.push(epoch_log(k))
        results.put((k, os.path.basename(os.path.normpath(logger.save_dir))))
    except Exception as error:  # reported, so the test fails on it rather than waiting
        results.put((k, f"{type(error).__name__}: {error}"))


class TestLogger(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.run_dir = os.path.join(self.tmp, "run")
        self.model_args = {"lr": 0.1, "layers": ["fully_connected"]}
        self.data_args = {"name": "iris", "batch_size": 15}

    def tearDown(self):
        self._tmp.cleanup()

    def logger(self, **kwargs):
        return Logger("run", self.model_args, self.data_args, save_dir=self.tmp, **kwargs)

    def test_writes_args_log_and_curves(self):
        logger = self.logger(save=True, plot=True)
        with open(os.path.join(self.run_dir, "args.json")) as f:
            args = json.load(f)
        self.assertEqual(args["model_args"], self.model_args)
        self.assertEqual(args["data_args"], self.data_args)
        for i in range(3):
            logger.push(epoch_log(i))
        with open(os.path.join(self.run_dir, "log.json")) as f:
            log = json.load(f)
        expected = [epoch_log(i) for i in range(3)]
        for metric in ("loss", "error"):
            for split in ("train", "validate"):
                self.assertEqual(log[metric][split], [e[metric][split] for e in expected])
        self.assertEqual(log["loss"]["validate"][:2], [1.2, 0.6])
        self.assertEqual(len(log["error"]["train"]), 3)
        for name in ("loss.png", "error.png"):
            path = os.path.join(self.run_dir, name)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC, name)
            self.assertGreater(os.path.getsize(path), 1000)

    def test_log_is_updated_after_every_push(self):
        logger = self.logger(save=True)
        logger.push(epoch_log(0))
        with open(os.path.join(self.run_dir, "log.json")) as f:
            self.assertEqual(len(json.load(f)["loss"]["train"]), 1)
        logger.push(epoch_log(1))
        with open(os.path.join(self.run_dir, "log.json")) as f:
            self.assertEqual(len(json.load(f)["loss"]["train"]), 2)

    def test_no_files_without_save_or_plot(self):
        logger = self.logger()
        logger.push(epoch_log(0))
        self.assertFalse(os.path.exists(self.run_dir))

    def test_plot_only_draws_curves(self):
        logger = self.logger(plot=True)
        logger.push(epoch_log(0))
        self.assertTrue(os.path.isfile(os.path.join(self.run_dir, "loss.png")))
        self.assertTrue(os.path.isfile(os.path.join(self.run_dir, "error.png")))
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "log.json")))

    def snapshot(self, folder):
        """{file name: bytes} of every file in ``folder`` but the lock."""
        files = {}
        for name in sorted(os.listdir(folder)):
            if name != LOCK_NAME:
                with open(os.path.join(folder, name), "rb") as f:
                    files[name] = f.read()
        return files

    def finished_run(self, pushes=2, **kwargs):
        """A run logged to ``run/`` whose Logger is gone, as after its process ended."""
        with contextlib.redirect_stdout(io.StringIO()):  # an earlier run may be moved
            logger = self.logger(save=True, plot=True, **kwargs)
        for i in range(pushes):
            logger.push(epoch_log(i))
        del logger
        gc.collect()
        return self.snapshot(self.run_dir)

    def test_a_second_run_moves_the_first_aside_and_says_where(self):
        first = self.finished_run()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            second = self.logger(save=True)
        moved = os.path.join(self.tmp, "run_2")
        self.assertEqual(out.getvalue(), f"{self.run_dir} held an earlier run: moved it to "
                                         f"{moved}\n")
        self.assertEqual(self.snapshot(moved), first)  # every file, byte for byte
        self.assertEqual(os.path.normpath(second.save_dir), self.run_dir)
        self.assertEqual(sorted(self.snapshot(self.run_dir)), ["args.json"])
        second.push(epoch_log(5))
        with open(os.path.join(self.run_dir, "log.json")) as f:
            self.assertEqual(json.load(f)["loss"]["train"], [1.0 / 6])
        self.assertEqual(self.snapshot(moved), first)

    def test_each_run_after_takes_the_next_free_suffix(self):
        runs = []
        for i in range(1, 4):
            runs.append(self.finished_run(pushes=i))
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger(save=True)
        # The oldest run went to run_2 and the next to run_3; the newest is gone
        # to run_4, and run/ is the new run's.
        for suffix, files in zip(("_2", "_3", "_4"), runs, strict=True):
            self.assertEqual(self.snapshot(os.path.join(self.tmp, "run" + suffix)), files)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["run", "run_2", "run_3", "run_4"])

    def test_a_taken_suffix_that_is_a_file_is_skipped(self):
        first = self.finished_run()
        with open(os.path.join(self.tmp, "run_2"), "w") as f:
            f.write("mine")
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger(save=True)
        self.assertEqual(self.snapshot(os.path.join(self.tmp, "run_3")), first)
        with open(os.path.join(self.tmp, "run_2")) as f:
            self.assertEqual(f.read(), "mine")

    def test_a_folder_holding_curves_only_is_moved_too(self):
        self.logger(plot=True).push(epoch_log(0))
        gc.collect()
        curves = self.snapshot(self.run_dir)
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger(plot=True)
        self.assertEqual(self.snapshot(os.path.join(self.tmp, "run_2")), curves)

    def test_an_empty_folder_is_used_as_it_is(self):
        os.mkdir(self.run_dir)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.logger(save=True)
        self.assertEqual(out.getvalue(), "")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["run"])

    def test_a_file_or_a_symbolic_link_is_refused_and_left_alone(self):
        target = os.path.join(self.tmp, "elsewhere")
        os.mkdir(target)
        with open(os.path.join(target, "kept.txt"), "w") as f:
            f.write("kept")
        os.symlink(target, self.run_dir)
        with self.assertRaisesRegex(ValueError, f"{self.run_dir} is a symbolic link"):
            self.logger(save=True)
        self.assertEqual(os.readlink(self.run_dir), target)
        self.assertEqual(os.listdir(target), ["kept.txt"])
        os.remove(self.run_dir)
        with open(self.run_dir, "w") as f:
            f.write("a file")
        with self.assertRaisesRegex(ValueError, f"{self.run_dir} is not a folder"):
            self.logger(save=True)
        with open(self.run_dir) as f:
            self.assertEqual(f.read(), "a file")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["elsewhere", "run"])

    def test_a_folder_in_use_by_a_live_run_is_not_moved(self):
        # Another process's lock: that run is still writing there.
        first = self.finished_run()
        with open(os.path.join(self.run_dir, LOCK_NAME), "w") as f:
            f.write(f"{os.getppid()}\n")
        with self.assertRaisesRegex(FileExistsError, "in use by another run"):
            self.logger(save=True)
        self.assertEqual(self.snapshot(self.run_dir), first)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["run"])

    def test_a_lock_left_by_a_dead_run_does_not_stop_the_next(self):
        first = self.finished_run()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout
        with open(os.path.join(self.run_dir, LOCK_NAME), "w") as f:
            f.write(dead)
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger(save=True)
        moved = os.path.join(self.tmp, "run_2")
        self.assertEqual(self.snapshot(moved), first)
        self.assertNotIn(LOCK_NAME, os.listdir(moved))

    def test_a_parent_that_refuses_the_move_loses_nothing(self):
        # As a read-only save_dir would (root ignores mode bits, so the refusal is
        # simulated): first the new name cannot be made, then the rename fails.
        first = self.finished_run()
        real_mkdir = os.mkdir

        def no_new_folders(path, *args, **kwargs):
            if os.path.basename(path) == "run_2":
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_mkdir(path, *args, **kwargs)

        with mock.patch("os.mkdir", no_new_folders), \
                self.assertRaisesRegex(ValueError, "cannot create the run folder .*run_2.*"
                                                   "Permission denied"):
            self.logger(save=True)
        self.assertEqual(self.snapshot(self.run_dir), first)
        with mock.patch("os.rename", side_effect=PermissionError(errno.EACCES, "Permission "
                                                                 "denied")), \
                self.assertRaisesRegex(ValueError, "cannot move the earlier run in .* aside to "
                                                   ".*run_2: Permission denied; nothing was moved"):
            self.logger(save=True)
        self.assertEqual(self.snapshot(self.run_dir), first)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["run"])  # the claim was given back
        self.assertNotIn(LOCK_NAME, os.listdir(self.run_dir))
        # Once the move can be made, the next run makes it.
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger(save=True)
        self.assertEqual(self.snapshot(os.path.join(self.tmp, "run_2")), first)

    def test_runs_started_together_lose_nothing(self):
        # Four processes start the same run at once over an earlier run: one gets
        # run/, the others a clear error or a folder of their own, and the earlier
        # run is whole under one of the new names.
        ctx = multiprocessing.get_context("fork")
        for trial in range(8):
            save_dir = os.path.join(self.tmp, f"race{trial}")
            logger = Logger("run", {"trial": trial}, {}, save=True, save_dir=save_dir)
            logger.push(epoch_log(0))
            del logger
            gc.collect()
            earlier = self.snapshot(os.path.join(save_dir, "run"))
            barrier, results = ctx.Barrier(4), ctx.Queue()
            workers = [ctx.Process(target=_log_after, args=(barrier, save_dir, k, results))
                       for k in range(4)]
            for w in workers:
                w.start()
            outcomes = [outcome for _, outcome in sorted(results.get(timeout=60)
                                                         for _ in workers)]
            for w in workers:
                w.join(60)
            went_on = [k for k, o in enumerate(outcomes) if not o.startswith("FileExistsError")]
            self.assertTrue(went_on, outcomes)
            for outcome in outcomes:
                self.assertRegex(outcome, r"^(run|FileExistsError: .*run is in use by another "
                                          r"run.*)$")
            # A run that went on may have been moved aside by a later one, once its
            # process had ended: find each by its arguments. Every run that went on
            # is whole in a folder of its own, the earlier run is whole in one other,
            # and nothing else is left (no empty claim, no lock file).
            found = {}
            for name in os.listdir(save_dir):
                files = self.snapshot(os.path.join(save_dir, name))
                self.assertNotIn(LOCK_NAME, os.listdir(os.path.join(save_dir, name)))
                owner = json.loads(files["args.json"])["model_args"]
                found[json.dumps(owner)] = files
            self.assertEqual(sorted(found), sorted(
                [json.dumps({"trial": trial})] + [json.dumps({"worker": k}) for k in went_on]))
            self.assertEqual(found[json.dumps({"trial": trial})], earlier)
            for k in went_on:
                log = json.loads(found[json.dumps({"worker": k})]["log.json"])
                self.assertEqual(log["loss"]["train"], [1.0 / (k + 1)])

    def test_model_name_must_be_a_plain_folder_name(self):
        for bad in ("a/b", "..", ""):
            with self.subTest(name=bad), self.assertRaisesRegex(ValueError, "plain folder name"):
                Logger(bad, {}, {}, save=True, save_dir=self.tmp)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_files_are_replaced_whole_with_no_temporary_left(self):
        logger = self.logger(save=True, plot=True)
        for i in range(3):
            logger.push(epoch_log(i))
        # The lock says the run is live while its Logger is; it goes with the Logger.
        self.assertEqual(sorted(os.listdir(self.run_dir)),
                         [LOCK_NAME, "args.json", "error.png", "log.json", "loss.png"])
        del logger
        gc.collect()
        self.assertEqual(sorted(os.listdir(self.run_dir)),
                         ["args.json", "error.png", "log.json", "loss.png"])

    def test_arguments_that_json_cannot_hold_are_refused(self):
        with self.assertRaisesRegex(ValueError, "args.json as JSON"):
            Logger("run", {"activation": object()}, self.data_args, save=True,
                   save_dir=self.tmp)
        self.assertFalse(os.path.exists(self.run_dir))  # the empty folder is given back


if __name__ == "__main__":
    unittest.main()
