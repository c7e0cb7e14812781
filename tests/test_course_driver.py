"""A driver in the shape of the course's ``train_ffnn.py`` (AttrDicts, a seed,
``Logger`` into ``experiments/<model_name>/``, ``initialize_model``,
``initialize_dataset("iris")``, ``train``, ``test``), run twice in one folder
as the course's students run it: both runs finish and print the course's test
line, and the second moves the first aside, whole, saying where."""

import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Written for this test in the course driver's shape (not the course's text).
DRIVER = '''
import sys

import numpy as np

from neural_networks.utils.data_structures import AttrDict

hidden = AttrDict({"name": "fully_connected", "activation": "relu",
                   "weight_init": "xavier_uniform", "n_out": 12})
output = AttrDict({"name": "fully_connected", "activation": "softmax",
                   "weight_init": "xavier_uniform", "n_out": None})  # set from the data
optimizer_args = AttrDict({"name": "SGD", "lr": 0.01, "lr_scheduler": "constant",
                           "lr_decay": 0.99, "stage_length": 1000, "staircase": True,
                           "clip_norm": 1.0, "momentum": 0.9})
model_args = AttrDict({"name": "feed_forward", "loss": "cross_entropy",
                       "layer_args": [hidden, output], "optimizer_args": optimizer_args,
                       "seed": 0})
data_args = AttrDict({"name": "iris", "batch_size": 25})

np.random.seed(model_args.seed)
model_name = "{}_{}layers_{}-lr{}".format(model_args.name, len(model_args.layer_args),
                                          hidden["n_out"], optimizer_args.lr)

from neural_networks.datasets import initialize_dataset
from neural_networks.logs import Logger
from neural_networks.models import initialize_model

logger = Logger(model_name=model_name, model_args=model_args, data_args=data_args,
                save=True, plot=True, save_dir="experiments/")
model = initialize_model(name=model_args.name, loss=model_args.loss,
                         layer_args=model_args.layer_args,
                         optimizer_args=model_args.optimizer_args, logger=logger)
dataset = initialize_dataset(name=data_args.name, batch_size=data_args.batch_size)
model.train(dataset, epochs=int(sys.argv[1]))
model.test(dataset)
'''

MODEL_NAME = "feed_forward_2layers_12-lr0.01"
TEST_LINE = re.compile(r"^Test Loss: (\d+\.\d{1,4}) Test Accuracy: (\d(?:\.\d{1,4})?)$", re.M)


def files_of(folder):
    """{name: bytes} of every file in ``folder``."""
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


class TestCourseDriverRunsTwice(unittest.TestCase):
    def test_two_runs_in_one_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "driver.py").write_text(DRIVER)
            env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"}

            def run():
                proc = subprocess.run([sys.executable, "driver.py", "10"], cwd=tmp, env=env,
                                      capture_output=True, text=True, timeout=300)
                self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
                return proc.stdout

            run_dir = tmp / "experiments" / MODEL_NAME
            moved = tmp / "experiments" / f"{MODEL_NAME}_2"
            first_out = run()
            first_files = files_of(run_dir)
            self.assertEqual(sorted(first_files), ["args.json", "error.png", "log.json",
                                                   "loss.png"])
            second_out = run()

            lines = [TEST_LINE.findall(out) for out in (first_out, second_out)]
            self.assertEqual([len(found) for found in lines], [1, 1], (first_out, second_out))
            # The same seed gives the same run, and it has learnt something: the
            # three classes are balanced, so chance is about a third.
            self.assertEqual(lines[0], lines[1])
            loss, accuracy = map(float, lines[0][0])
            self.assertLess(loss, 1.0)
            self.assertGreater(accuracy, 0.6)

            self.assertNotIn("earlier run", first_out)
            self.assertIn(f"experiments/{MODEL_NAME} held an earlier run: moved it to "
                          f"experiments/{MODEL_NAME}_2\n", second_out)
            self.assertEqual(files_of(moved), first_files)  # every file, byte for byte
            self.assertEqual(sorted(files_of(run_dir)), sorted(first_files))
            self.assertEqual(sorted(os.listdir(tmp / "experiments")),
                             [MODEL_NAME, f"{MODEL_NAME}_2"])


if __name__ == "__main__":
    unittest.main()
