"""The CIFAR-10 loader, end to end on small files in the official format.

CIFAR-10 cannot be downloaded here, so these tests write their own "python
version" batches: ``data_batch_1..5`` and ``test_batch``, each a pickled dict
with ``b"data"`` (uint8, one row of 3072 per image: the red, then green, then
blue 32x32 plane, each row-major), ``b"labels"``, ``b"batch_label"`` and
``b"filenames"``. The real files were written by Python 2's cPickle with
protocol 2, where strings are raw bytes (the ``BINSTRING`` opcodes) and numpy
lived in ``numpy.core``; ``write_batch`` writes the same opcodes, so a loader
must read them as the real ones need (``encoding="bytes"``). They are stored
as a ``cifar-10-batches-py`` folder and as ``cifar-10-python.tar.gz``.
"""

import io
import os
import pickle
import re
import struct
import tarfile
import tempfile
import tracemalloc
import unittest
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np

from neural_networks.augmentation import RandomCropFlip
from neural_networks.datasets import cifar10 as loader_module
from neural_networks.datasets import initialize_dataset
from neural_networks.models import NeuralNetwork
from neural_networks.utils import AttrDict

BATCH_NAMES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]


class Python2Pickler(pickle._Pickler):
    """Writes bytes and str the way Python 2's protocol 2 wrote its str."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_as_python2_str(self, obj):
        raw = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_as_python2_str
    dispatch[str] = save_as_python2_str


def batch_bytes(data, labels, name):
    """One batch pickled as the official files are."""
    batch = {
        b"batch_label": f"{name} of the test fixture".encode(),
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(labels))],
    }
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(batch)
    # Python 2's numpy named its module numpy.core.multiarray.
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_batches(per_batch=4, n_test=6, seed=0):
    """Random rows (n, 3072) and labels for the six batches.

    The red value of pixel (0, 0) is the example's index in the training set
    (0..19), so it can be traced through the split and the scaling; the green
    plane of the last two batches is brighter, so statistics over a subset
    differ from those over all of them.
    """
    rng = np.random.default_rng(seed)
    batches = {}
    for k, name in enumerate(BATCH_NAMES):
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 200, size=(n, 3072))
        if k in (3, 4):
            data[:, 1024:2048] += 50
        if name != "test_batch":
            data[:, 0] = np.arange(k * per_batch, (k + 1) * per_batch)
        batches[name] = (data.astype(np.uint8), rng.integers(0, 10, size=n))
    return batches


def nhwc_by_definition(rows):
    """Images (n, 32, 32, 3) from rows (n, 3072), element by element from the format's definition."""
    images = np.zeros((rows.shape[0], 32, 32, 3), dtype=rows.dtype)
    for n in range(rows.shape[0]):
        for ch in range(3):
            for r in range(32):
                for c in range(32):
                    images[n, r, c, ch] = rows[n, ch * 1024 + r * 32 + c]
    return images


def write_folder(root, batches, raw=None):
    """root/cifar-10-batches-py/<batch> for every batch; raw overrides a file's bytes."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in batches.items():
        payload = (raw or {}).get(name) or batch_bytes(data, labels, name)
        (folder / name).write_bytes(payload)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"]}, protocol=2))
    return folder


def write_archive(path, batches):
    """The official archive: every batch under cifar-10-batches-py/, plus the extra files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        members = {name: batch_bytes(d, l, name) for name, (d, l) in batches.items()}
        members["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=2)
        members["readme.html"] = b"<html></html>"
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


class CifarTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self._tmp.cleanup)
        self.tmp = Path(self._tmp.name)
        repo = self.tmp / "repo" / "cifar10"
        patches = [mock.patch.object(loader_module, "CIFAR10_REPO_DIR", repo),
                   mock.patch.dict(os.environ)]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)
        os.environ.pop("CIFAR10_DIR", None)
        os.environ["NEURAL_NETWORKS_DATA"] = str(self.tmp / "downloads")
        self.batches = make_batches()
        self.root = self.tmp / "data"
        write_folder(self.root, self.batches)

    def load(self, data_dir=None, **options):
        options.setdefault("validation_size", 5)
        return initialize_dataset("cifar10", batch_size=4,
                                  data_dir=self.root if data_dir is None else data_dir, **options)

    def train_rows(self):
        return np.concatenate([self.batches[n][0] for n in BATCH_NAMES[:5]])

    def train_labels(self):
        return np.concatenate([self.batches[n][1] for n in BATCH_NAMES[:5]])


class TestFixture(CifarTest):
    def test_written_like_python2(self):
        payload = batch_bytes(*self.batches["data_batch_1"], "data_batch_1")
        self.assertTrue(payload.startswith(b"\x80\x02"))            # protocol 2
        self.assertIn(b"U\x04data", payload)                         # a Python 2 str key
        self.assertIn(b"cnumpy.core.multiarray\n_reconstruct", payload)
        # As with the real files, Python 3's default decoding fails on the image bytes...
        with self.assertRaises(UnicodeDecodeError):
            pickle.loads(payload)
        # ...and encoding="bytes" reads them, with bytes keys.
        batch = pickle.loads(payload, encoding="bytes")
        np.testing.assert_array_equal(batch[b"data"], self.batches["data_batch_1"][0])


class TestLayoutAndScaling(CifarTest):
    def traced_indices(self, *splits):
        """Original training index of each example: its red (0, 0) value, recovered by rank."""
        firsts = np.concatenate([s.data[:, 0, 0, 0] for s in splits])
        ranks = np.argsort(np.argsort(firsts))
        return np.split(ranks, np.cumsum([s.data.shape[0] for s in splits])[:-1])

    def test_shapes_and_split_sizes(self):
        d = self.load()
        self.assertEqual(d.train.data.shape, (15, 32, 32, 3))
        self.assertEqual(d.validate.data.shape, (5, 32, 32, 3))
        self.assertEqual(d.test.data.shape, (6, 32, 32, 3))
        self.assertEqual(d.train.labels.shape, (15, 10))
        self.assertEqual(d.out_dim, 10)
        self.assertEqual(d.train.data.dtype, np.float32)
        self.assertEqual(d.test.labels.dtype, np.float32)
        self.assertEqual(len(d.classes), 10)
        self.assertIsNone(self.load(validation_size=0).validate)

    def test_a_known_pixel_lands_in_its_place(self):
        rows = self.train_rows()
        rows[:, 1:] = 0
        # Example 7: red at (5, 9), green at (30, 2), blue at (31, 31).
        rows[7, 0 * 1024 + 5 * 32 + 9] = 255
        rows[7, 1 * 1024 + 30 * 32 + 2] = 254
        rows[7, 2 * 1024 + 31 * 32 + 31] = 253
        batches = dict(self.batches)
        for k, name in enumerate(BATCH_NAMES[:5]):
            batches[name] = (rows[4 * k:4 * k + 4], batches[name][1])
        write_folder(self.tmp / "pixel", batches)
        d = self.load(self.tmp / "pixel", validation_size=0)
        image = d.train.data[7]
        # Every other pixel of those planes is 0 (or the index at (0, 0) of red).
        for ch, position in ((0, (5, 9)), (1, (30, 2)), (2, (31, 31))):
            plane = image[..., ch].copy()
            if ch == 0:
                plane[0, 0] = plane.min()
            self.assertEqual(np.unravel_index(plane.argmax(), plane.shape), position)

    def test_images_and_standardisation_against_the_definition(self):
        d = self.load(dtype=np.float64)
        train_idx, val_idx = self.traced_indices(d.train, d.validate)
        self.assertEqual(sorted(np.concatenate([train_idx, val_idx])), list(range(20)))
        images = nhwc_by_definition(self.train_rows()) / 255.0
        test_images = nhwc_by_definition(self.batches["test_batch"][0]) / 255.0
        # Per channel, over the training split only.
        mean = images[train_idx].mean(axis=(0, 1, 2))
        std = images[train_idx].std(axis=(0, 1, 2))
        self.assertGreater(np.abs(mean - images.mean(axis=(0, 1, 2))).max(), 1e-4)
        np.testing.assert_allclose(d.train.data, (images[train_idx] - mean) / std, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d.validate.data, (images[val_idx] - mean) / std, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d.test.data, (test_images - mean) / std, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(d.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(d.std, std, rtol=1e-12)
        d32 = self.load()
        np.testing.assert_allclose(d32.train.data, d.train.data, rtol=1e-5, atol=1e-5)

    def test_labels_are_one_hot_and_follow_their_images(self):
        d = self.load()
        train_idx, val_idx = self.traced_indices(d.train, d.validate)
        labels = self.train_labels()
        for split, expected in ((d.train, labels[train_idx]), (d.validate, labels[val_idx]),
                                (d.test, self.batches["test_batch"][1])):
            self.assertTrue(np.all((split.labels == 0) | (split.labels == 1)))
            np.testing.assert_array_equal(split.labels.sum(axis=1), 1)
            np.testing.assert_array_equal(split.labels.argmax(axis=1), expected)

    def test_split_is_seeded(self):
        def val(seed):
            d = self.load(seed=seed)
            return sorted(self.traced_indices(d.train, d.validate)[1])
        np.random.seed(5)
        state = np.random.get_state()[1].copy()
        self.assertEqual(val(1), val(1))
        np.testing.assert_array_equal(np.random.get_state()[1], state)
        self.assertTrue(any(val(1) != val(s) for s in (2, 3, 4)))

    def test_augmentation_is_for_training_batches_only(self):
        d = self.load(augment="crop_flip")
        self.assertIsInstance(d.train.augment, RandomCropFlip)
        self.assertEqual(d.train.augment.pad, 4)
        self.assertIsNone(d.validate.augment)
        self.assertIsNone(d.test.augment)
        mine = RandomCropFlip(pad=2, flip=False)
        self.assertIs(self.load(augment=mine).train.augment, mine)

    def test_default_validation_size_needs_the_full_data(self):
        with self.assertRaisesRegex(ValueError, r"validation_size must be a whole number and >= 0 and < 20, got 5000"):
            initialize_dataset("cifar10", data_dir=self.root)


class TestWhereTheFilesAre(CifarTest):
    def assert_same(self, a, b):
        for x, y in ((a.train, b.train), (a.validate, b.validate), (a.test, b.test)):
            np.testing.assert_array_equal(x.data, y.data)
            np.testing.assert_array_equal(x.labels, y.labels)

    def test_archive_folder_and_batches_folder_agree(self):
        from_parent = self.load()
        archive = write_archive(self.tmp / "tar" / "cifar-10-python.tar.gz", self.batches)
        self.assert_same(from_parent, self.load(self.root / "cifar-10-batches-py"))
        self.assert_same(from_parent, self.load(archive.parent))
        self.assert_same(from_parent, self.load(archive))

    def test_search_order(self):
        # Three copies with different test labels: the argument's, the
        # environment's (a folder) and the repository's (an archive).
        tests = {seed: make_batches(seed=seed)["test_batch"][1] for seed in (0, 1, 2)}
        self.assertEqual(len({tuple(t) for t in tests.values()}), 3)
        write_folder(self.tmp / "env", make_batches(seed=1))
        write_archive(loader_module.CIFAR10_REPO_DIR / "cifar-10-python.tar.gz",
                      make_batches(seed=2))
        os.environ["CIFAR10_DIR"] = str(self.tmp / "env")
        found = lambda **options: initialize_dataset(  # noqa: E731
            "cifar10", validation_size=5, **options).test.labels.argmax(axis=1)
        np.testing.assert_array_equal(found(data_dir=self.root), tests[0])
        np.testing.assert_array_equal(found(), tests[1])
        del os.environ["CIFAR10_DIR"]
        np.testing.assert_array_equal(found(), tests[2])

    def test_missing_everywhere_is_one_line_naming_every_place(self):
        with self.assertRaises(ValueError) as caught:
            self.load(self.tmp / "arg-empty")
        message = str(caught.exception)
        # A folder named is the only place looked in, and so the only one named.
        self.assertEqual(message, (
            f"CIFAR-10 not found in {self.tmp / 'arg-empty'}, named by the data_dir argument: no "
            f"such file or folder (it must hold a cifar-10-batches-py folder (data_batch_1..5 "
            f"and test_batch) or cifar-10-python.tar.gz). Get it there with --download (in "
            f"Python: download=True)"))
        with self.assertRaises(ValueError) as caught:
            initialize_dataset("cifar10", validation_size=5)
        self.assertEqual(str(caught.exception), (
            f"CIFAR-10 not found: none of $CIFAR10_DIR (not set), {loader_module.CIFAR10_REPO_DIR}, "
            f"{self.tmp / 'downloads' / 'cifar10'} holds a cifar-10-batches-py folder "
            f"(data_batch_1..5 and test_batch) or cifar-10-python.tar.gz. Get it with --download "
            f"(in Python: download=True)"))

    def test_incomplete_named_folder_is_an_error(self):
        # The repository holds a complete copy, but the folder named is the one meant.
        write_archive(loader_module.CIFAR10_REPO_DIR / "cifar-10-python.tar.gz", self.batches)
        folder = self.root / "cifar-10-batches-py"
        (folder / "data_batch_3").unlink()
        with self.assertRaisesRegex(
                ValueError, rf"CIFAR-10 not found in {re.escape(str(self.root))}, named by the "
                            rf"data_dir argument: {re.escape(str(folder))} lacks data_batch_3\."):
            self.load()
        with self.assertRaisesRegex(ValueError, r"data_dir argument: no such file or folder"):
            self.load(self.tmp / "typo")
        (self.tmp / "notes.txt").write_text("not an archive")
        with self.assertRaisesRegex(ValueError, r"a file that is not a .tar.gz archive"):
            self.load(self.tmp / "notes.txt")

    def test_a_variable_naming_a_folder_without_batches_is_an_error(self):
        write_archive(loader_module.CIFAR10_REPO_DIR / "cifar-10-python.tar.gz", self.batches)
        (self.tmp / "env-wrong").mkdir()
        os.environ["CIFAR10_DIR"] = str(self.tmp / "env-wrong")
        with self.assertRaisesRegex(
                ValueError, r"env-wrong, named by the environment variable CIFAR10_DIR: it holds no "
                            r"cifar-10-batches-py folder, no batch files .* and no "
                            r"cifar-10-python.tar.gz"):
            initialize_dataset("cifar10", validation_size=5)
        del os.environ["CIFAR10_DIR"]
        self.assertEqual(initialize_dataset("cifar10", validation_size=5).train.data.shape[0], 15)

    def test_incomplete_repository_folder_is_passed_over(self):
        repo = write_folder(loader_module.CIFAR10_REPO_DIR, self.batches)
        (repo / "test_batch").unlink()
        with self.assertRaises(ValueError) as caught:
            initialize_dataset("cifar10", validation_size=5)
        message = str(caught.exception)
        self.assertTrue(message.startswith("CIFAR-10 not found: none of"), message)
        self.assertIn(f", {loader_module.CIFAR10_REPO_DIR}, ", message)


class TestBadFiles(CifarTest):
    def load_with(self, name, payload=None, changes=None):
        """Load after replacing one batch's dict entries (None drops one), or all its bytes."""
        if payload is None:
            data, labels = self.batches[name]
            entries = {b"data": data, b"labels": [int(v) for v in labels]}
            entries.update(changes)
            out = io.BytesIO()
            Python2Pickler(out, protocol=2).dump({k: v for k, v in entries.items() if v is not None})
            payload = out.getvalue()
        write_folder(self.tmp / "bad", self.batches, raw={name: payload})
        return self.load(self.tmp / "bad")

    def test_wrong_dtype(self):
        data = self.batches["data_batch_2"][0].astype(np.int64)
        with self.assertRaisesRegex(ValueError, r"data_batch_2: 'data' must be a uint8 array \(n, 3072\), got int64"):
            self.load_with("data_batch_2", changes={b"data": data})

    def test_wrong_width(self):
        data = self.batches["test_batch"][0][:, :3000]
        with self.assertRaisesRegex(ValueError, r"test_batch: 'data' must be a uint8 array \(n, 3072\), got uint8 \(6, 3000\)"):
            self.load_with("test_batch", changes={b"data": data})

    def test_label_count(self):
        with self.assertRaisesRegex(ValueError, r"data_batch_1: 'labels' must be 4 integers"):
            self.load_with("data_batch_1", changes={b"labels": [1, 2, 3]})

    def test_label_range(self):
        with self.assertRaisesRegex(ValueError, r"labels must be 0..9, found 0..10"):
            self.load_with("data_batch_5", changes={b"labels": [0, 10, 3, 3]})

    def test_missing_key(self):
        with self.assertRaisesRegex(ValueError, r"data_batch_4 has no 'labels' entry"):
            self.load_with("data_batch_4", changes={b"labels": None})

    def test_not_a_dict(self):
        with self.assertRaisesRegex(ValueError, r"data_batch_1 must be a dict, got list"):
            self.load_with("data_batch_1", payload=pickle.dumps([1, 2], protocol=2))

    def test_refuses_to_run_code(self):
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        with self.assertRaisesRegex(ValueError, r"refusing to unpickle"):
            self.load_with("data_batch_1", payload=pickle.dumps({b"data": Evil()}, protocol=2))

    def test_truncated_pickle(self):
        payload = batch_bytes(*self.batches["data_batch_1"], "data_batch_1")
        with self.assertRaisesRegex(ValueError, r"data_batch_1 cannot be read as a pickle"):
            self.load_with("data_batch_1", payload=payload[:-500])

    def test_corrupt_archive(self):
        path = self.tmp / "broken" / "cifar-10-python.tar.gz"
        write_archive(path, self.batches)
        path.write_bytes(path.read_bytes()[:200])
        with self.assertRaisesRegex(ValueError, r"cannot read the CIFAR-10 batches"):
            self.load(path)

    def test_oversized_batch_is_refused_before_reading(self):
        # A batch of 4 images is some 12 kB: over a limit of 5000 bytes, both
        # the folder's file and the archive's member are refused.
        archive = write_archive(self.tmp / "tar" / "cifar-10-python.tar.gz", self.batches)
        with mock.patch.object(loader_module, "CIFAR10_MAX_BATCH_BYTES", 5000):
            for place in (self.root, archive):
                with self.subTest(place=place), self.assertRaisesRegex(
                        ValueError, r"data_batch_1 is \d+ bytes, more than the 5000 bytes"):
                    self.load(place)
        self.assertEqual(self.load(archive).train.data.shape, (15, 32, 32, 3))

    def test_archive_missing_a_batch(self):
        path = write_archive(self.tmp / "partial" / "cifar-10-python.tar.gz",
                             {k: v for k, v in self.batches.items() if k != "data_batch_5"})
        with self.assertRaisesRegex(ValueError, r"no member cifar-10-batches-py/data_batch_5"):
            self.load(path)


def long1(n):
    """Pickle's LONG1 opcode: the int n in 9 little-endian bytes, signed."""
    return b"\x8a\x09" + n.to_bytes(9, "little", signed=True)


def data_batch(shape, spec, data, labels=()):
    """A protocol 2 pickle, opcode by opcode, of {b"data": array, b"labels": [...]}: the
    array as numpy pickles one, _reconstruct(ndarray, (0,), b"b") and then its state
    (1, shape, dtype(spec), False, data) whatever the shape, dtype and bytes say."""
    shape_tuple = b"(" + b"".join(long1(n) for n in shape) + b"t"
    dtype = (b"cnumpy\ndtype\n" + b"U" + bytes([len(spec)]) + spec + b"\x89\x88\x87R"
             + b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
             + b"(K\x01" + shape_tuple + dtype + b"\x89T" + struct.pack("<i", len(data)) + data
             + b"tb")
    label_list = b"](" + b"".join(long1(int(v)) for v in labels) + b"e"
    return b"\x80\x02}U\x04data" + array + b"s" + b"U\x06labels" + label_list + b"s."


class TestHostileBatches(CifarTest):
    """Corrupt or hostile batch pickles: each is a ValueError naming the file, raised
    before the unpickler or numpy allocates what the file merely declares."""

    def assert_refused(self, payload, pattern, member=False):
        if member:
            archive = write_archive(self.tmp / "tar" / "cifar-10-python.tar.gz", self.batches)
            with tarfile.open(archive, "w:gz") as tar:  # the same members, data_batch_1 replaced
                for name, (data, labels) in self.batches.items():
                    raw = payload if name == "data_batch_1" else batch_bytes(data, labels, name)
                    info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                    info.size = len(raw)
                    tar.addfile(info, io.BytesIO(raw))
            where = f"{archive} member cifar-10-batches-py/data_batch_1"
            place = archive
        else:
            where = str(write_folder(self.tmp / "bad", self.batches,
                                     raw={"data_batch_1": payload}) / "data_batch_1")
            place = self.tmp / "bad"
        tracemalloc.start()
        try:
            with self.assertRaisesRegex(ValueError, re.escape(where) + " .*" + pattern):
                self.load(place)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # The five small batches, the declared sizes nowhere.
        self.assertLess(peak, 2**23)

    def test_the_fixture_opcodes_make_a_batch(self):
        data, labels = self.batches["data_batch_1"]
        payload = data_batch(data.shape, b"u1", data.tobytes(), labels)
        root = write_folder(self.tmp / "good", self.batches, raw={"data_batch_1": payload})
        np.testing.assert_array_equal(self.load(root.parent).train.data, self.load().train.data)

    def test_a_frame_longer_than_sys_maxsize(self):
        # Protocol 4's FRAME opcode and an 8-byte length of 2**63 + 5 (OverflowError before).
        payload = b"\x80\x04\x95" + struct.pack("<Q", 2**63 + 5) + b"}."
        self.assert_refused(payload, r"a frame of 9223372036854775813 bytes")
        self.assert_refused(payload, r"a frame of 9223372036854775813 bytes", member=True)

    def test_bytes_longer_than_the_file(self):
        # BINBYTES8 declaring 2**62 bytes: the unpickler allocated them first (MemoryError).
        payload = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"ab."
        self.assert_refused(payload, r"expected 4611686018427387904 bytes")

    def test_an_array_declaring_two_to_the_62_bytes(self):
        # _reconstruct(ndarray, (2**62,), b"b"): numpy allocated it first (MemoryError).
        direct = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                  + long1(2**62) + b"\x85U\x01b\x87R.")
        self.assert_refused(direct, r"an array.s state must be \(version, shape")
        # The array's state declaring 2**62 elements over 3 bytes.
        self.assert_refused(data_batch((2**62,), b"u1", b"abc"),
                            r"needs 4611686018427387904 bytes, the file holds 3")
        # numpy.ndarray called itself with such a shape.
        called = b"\x80\x02}U\x04datacnumpy\nndarray\n" + long1(2**62) + b"\x85\x85Rs."
        self.assert_refused(called, r"TypeError|takes 1 positional argument")

    def test_a_memo_index_far_beyond_the_entries(self):
        # LONG_BINPUT 2**24 of an empty dict: the unpickler grew its memo to 2**25 slots.
        payload = b"\x80\x02}r" + struct.pack("<I", 2**24) + b"."
        self.assert_refused(payload, r"memo index 16777216 at byte 3, after 0 entries")

    def test_an_allowed_callable_given_bad_arguments(self):
        cases = {
            "_reconstruct with one argument (TypeError)":
                (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n\x85R.",
                 r"_reconstruct\(\) missing 2 required positional arguments"),
            "a codec that does not exist (LookupError)":
                (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x0d\x00\x00\x00"
                 b"no-such-codec\x86R.", r"unknown encoding: no-such-codec"),
            "a codec other than latin-1":
                (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x06\x00\x00\x00"
                 b"base64\x86R.", r"latin-1 codec only"),
            "a dtype that does not exist (TypeError)":
                (data_batch((3,), b"zz9", b"abc"), r"data type 'zz9' not understood"),
            "an object dtype":
                (data_batch((0,), b"O", b""), r"refusing an array of dtype object"),
        }
        for case, (payload, pattern) in cases.items():
            with self.subTest(case=case):
                self.assert_refused(payload, pattern)


class TestUnlabeledTestFile(CifarTest):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(7)
        self.kaggle = rng.integers(0, 256, size=(9, 32, 32, 3)).astype(np.uint8)

    def test_npy_and_npz(self):
        np.save(self.tmp / "test.npy", self.kaggle)
        np.savez(self.tmp / "one.npz", whatever=self.kaggle)
        np.savez(self.tmp / "named.npz", images=self.kaggle, ids=np.arange(9))
        reference = self.load(dtype=np.float64)
        for name in ("test.npy", "one.npz", "named.npz"):
            d = self.load(test_file=self.tmp / name, dtype=np.float64)
            self.assertIsNone(d.test.labels)
            self.assertEqual(d.test.data.shape, (9, 32, 32, 3))
            # Scaled with the training split's statistics, like the official test batch.
            np.testing.assert_allclose(d.test.data, (self.kaggle / 255.0 - reference.mean) / reference.std,
                                       rtol=1e-10, atol=1e-10)
            np.testing.assert_array_equal(d.train.data, reference.train.data)

    def test_bad_test_files(self):
        cases = {
            "float.npy": (self.kaggle.astype(np.float32), r"uint8 images of shape \(n, 32, 32, 3\), got float32"),
            "nchw.npy": (self.kaggle.transpose(0, 3, 1, 2).copy(), r"got uint8 \(9, 3, 32, 32\)"),
        }
        for name, (array, pattern) in cases.items():
            np.save(self.tmp / name, array)
            with self.assertRaisesRegex(ValueError, pattern):
                self.load(test_file=self.tmp / name)
        np.savez(self.tmp / "two.npz", a=self.kaggle, b=self.kaggle)
        with self.assertRaisesRegex(ValueError, r"one array or one named 'images', got \['a', 'b'\]"):
            self.load(test_file=self.tmp / "two.npz")
        with self.assertRaisesRegex(ValueError, r"does not exist"):
            self.load(test_file=self.tmp / "nope.npy")
        (self.tmp / "junk.npy").write_bytes(b"not numpy")
        with self.assertRaisesRegex(ValueError, r"not a readable .npy/.npz file"):
            self.load(test_file=self.tmp / "junk.npy")

    def test_a_truncated_or_corrupt_npz_names_the_file(self):
        for what, path in corrupt_npz_files(self.tmp, self.kaggle).items():
            with self.subTest(what), self.assertRaisesRegex(
                    ValueError, rf"^test_file {re.escape(str(path))} is not a readable "
                                r".npy/.npz file: "):
                self.load(test_file=path)


def corrupt_npz_files(folder, images):
    """{what is wrong: path} of .npz files of ``images`` that np.load cannot read: cut in
    half (no central directory), and a byte of the stored or deflated data flipped (the
    CRC or the deflate stream fails), each a zipfile.BadZipFile or zlib.error in numpy."""
    folder = Path(folder)
    files = {}
    for save in (np.savez, np.savez_compressed):
        buffer = io.BytesIO()
        save(buffer, images=images)
        whole = buffer.getvalue()
        kind = save.__name__
        files[f"{kind} cut in half"] = whole[:len(whole) // 2]
        with zipfile.ZipFile(io.BytesIO(whole)) as archive:
            info = archive.infolist()[0]
        # The member's data starts after its 30-byte local header, name and extra field.
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        flipped = bytearray(whole)
        flipped[start + info.compress_size // 2] ^= 0xFF
        files[f"{kind} with a byte flipped"] = bytes(flipped)
    paths = {}
    for k, (what, payload) in enumerate(files.items()):
        paths[what] = folder / f"corrupt_{k}.npz"
        paths[what].write_bytes(payload)
    return paths


class TestTrainsOnIt(CifarTest):
    def test_a_few_sgd_steps_of_a_small_conv_net(self):
        d = self.load(test_file=None)
        layers = [
            AttrDict(name="conv2d", n_out=4, kernel_shape=(3, 3), stride=2, pad="same",
                     activation="relu", weight_init="he_uniform"),
            AttrDict(name="pool2d", kernel_shape=(2, 2), stride=2, mode="max"),
            AttrDict(name="flatten"),
            AttrDict(name="fully_connected", activation="softmax", weight_init="xavier_uniform"),
        ]
        model = NeuralNetwork("cross_entropy", layers, {"name": "SGD", "lr": 0.05, "momentum": 0.9},
                              seed=0)
        model.build(n_out=d.out_dim)
        before = model.predict(d.train.data, d.train.labels)[1]
        model.train(d, epochs=8, verbose=False)
        Y_hat, after = model.predict(d.train.data, d.train.labels)
        # 15 examples, 32 steps: the network fits its training set better.
        self.assertLess(after, 0.5 * before)
        self.assertEqual(Y_hat.dtype, np.float32)
        self.assertTrue(np.isfinite(model.layers[0].parameters["W"]).all())
        self.assertTrue(np.isfinite(model.test(d, verbose=False)["test_loss"]))

    def test_kaggle_predictions_for_an_unlabeled_test_file(self):
        kaggle = np.random.default_rng(3).integers(0, 256, size=(7, 32, 32, 3)).astype(np.uint8)
        np.save(self.tmp / "kaggle.npy", kaggle)
        d = self.load(test_file=self.tmp / "kaggle.npy")
        layers = [AttrDict(name="flatten"),
                  AttrDict(name="fully_connected", activation="softmax")]
        model = NeuralNetwork("cross_entropy", layers, {"name": "SGD", "lr": 0.01}, seed=0)
        model.train(d, epochs=1, verbose=False)
        path = model.test_kaggle(d, path=self.tmp / "predictions.csv")
        lines = Path(path).read_text().splitlines()
        self.assertEqual(lines[0], "Id,Category")
        self.assertEqual([line.split(",")[0] for line in lines[1:]], [str(i) for i in range(7)])
        self.assertTrue(all(0 <= int(line.split(",")[1]) <= 9 for line in lines[1:]))


if __name__ == "__main__":
    unittest.main()
