"""Logger: the files it writes and its refusal to overwrite a previous run."""

import json
import os
import tempfile
import unittest

from neural_networks.logs import Logger

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def epoch_log(i):
    return {
        "loss": {"train": 1.0 / (i + 1), "validate": 1.2 / (i + 1)},
        "error": {"train": 0.5 / (i + 1), "validate": 0.6 / (i + 1)},
        "params": {"0.W": float(i)},
    }


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

    def test_refuses_to_reuse_a_finished_run(self):
        logger = self.logger(save=True)
        logger.push(epoch_log(0))
        with self.assertRaisesRegex(FileExistsError, "overwrite"):
            self.logger(save=True)
        # the previous run's log is intact
        with open(os.path.join(self.run_dir, "log.json")) as f:
            self.assertEqual(len(json.load(f)["loss"]["train"]), 1)

    def test_overwrite_replaces_the_run(self):
        first = self.logger(save=True)
        first.push(epoch_log(0))
        first.push(epoch_log(1))
        second = self.logger(save=True, overwrite=True)
        second.push(epoch_log(5))
        with open(os.path.join(self.run_dir, "log.json")) as f:
            self.assertEqual(json.load(f)["loss"]["train"], [1.0 / 6])

    def test_refuses_a_folder_holding_curves_only(self):
        self.logger(plot=True).push(epoch_log(0))
        with self.assertRaisesRegex(FileExistsError, "already holds a run"):
            self.logger(plot=True)

    def test_model_name_must_be_a_plain_folder_name(self):
        for bad in ("a/b", "..", ""):
            with self.subTest(name=bad), self.assertRaisesRegex(ValueError, "plain folder name"):
                Logger(bad, {}, {}, save=True, save_dir=self.tmp)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_files_are_replaced_whole_with_no_temporary_left(self):
        logger = self.logger(save=True, plot=True)
        for i in range(3):
            logger.push(epoch_log(i))
        self.assertEqual(sorted(os.listdir(self.run_dir)),
                         ["args.json", "error.png", "log.json", "loss.png"])

    def test_arguments_that_json_cannot_hold_are_refused(self):
        with self.assertRaisesRegex(ValueError, "args.json as JSON"):
            Logger("run", {"activation": object()}, self.data_args, save=True,
                   save_dir=self.tmp)
        self.assertFalse(os.path.exists(self.run_dir))  # the empty folder is given back


if __name__ == "__main__":
    unittest.main()
