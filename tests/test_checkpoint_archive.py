"""A checkpoint's archive read without trusting it (neural_networks/checkpoint_archive.py),
called directly: a good archive gives its entries and arrays; a member that is no
.npy array, a name twice, a compressed member, an entry whose header declares
other bytes than it holds, and an entry of Python objects are each a ValueError
naming the file, and a file that is no zip at all is one too. The hostile files
of tests/test_checkpoints.py (memory bounds) reach it through ``load``."""

import io
import os
import tempfile
import unittest
import warnings
import zipfile

import numpy as np

from neural_networks.checkpoint_archive import open_archive


def npy_bytes(array, allow_pickle=False):
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, allow_pickle=allow_pickle)
    return stream.getvalue()


class TestOpenArchive(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)

    def write(self, members, compression=zipfile.ZIP_STORED):
        path = os.path.join(self._tmp.name, "archive.npz")
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
            warnings.simplefilter("ignore")  # "Duplicate name", when that is the point
            for member, data in members:
                archive.writestr(member, data)
        return path

    def test_a_good_archive(self):
        W, order = np.arange(6.0).reshape(2, 3), np.array([2, 0, 1])
        path = os.path.join(self._tmp.name, "good.npz")
        np.savez(path, W=W, order=order)
        with open_archive(path) as (entries, read):
            self.assertEqual(sorted(entries), ["W", "order"])
            np.testing.assert_array_equal(read("W"), W)
            np.testing.assert_array_equal(read("order"), order)

    def test_what_is_refused(self):
        good = npy_bytes(np.zeros(4))
        cut = npy_bytes(np.zeros(4))[:-8]
        objects = npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True)
        for members, compression, fragment in (
            ([("W.txt", good)], zipfile.ZIP_STORED, "W.txt' is not a .npy array"),
            ([("W.npy", good), ("W.npy", good)], zipfile.ZIP_STORED, "entry W appears twice"),
            ([("W.npy", good)], zipfile.ZIP_DEFLATED, "entry W is compressed"),
            ([("W.npy", cut)], zipfile.ZIP_STORED, "declares a float64 array of shape (4,)"),
            ([("W.npy", objects)], zipfile.ZIP_STORED, "entry W holds Python objects"),
        ):
            with self.subTest(fragment=fragment):
                path = self.write(members, compression)
                with self.assertRaises(ValueError) as raised:
                    with open_archive(path) as (entries, read):
                        for name in entries:
                            read(name)
                self.assertIn(path, str(raised.exception))
                self.assertIn(fragment, str(raised.exception))

    def test_a_file_that_is_no_zip(self):
        path = os.path.join(self._tmp.name, "junk.npz")
        with open(path, "wb") as f:
            f.write(b"not a zip file at all")
        with self.assertRaisesRegex(ValueError, "is not a readable checkpoint"):
            with open_archive(path):
                pass


if __name__ == "__main__":
    unittest.main()
