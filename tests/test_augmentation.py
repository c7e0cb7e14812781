"""Random crop after zero padding and random horizontal flip
(neural_networks/augmentation.py), and how Data applies it.

The images have distinct non-zero pixel values, so each output image can be
traced back to exactly one of the (2*pad+1)^2 * 2 ways of cropping the
zero-padded input and flipping it (or not): the test builds every candidate
with numpy slicing and requires exactly one match per image. From the
matches it checks that the offsets cover [0, 2*pad] and that flips happen
about as often as asked.
"""

import unittest

import numpy as np

from neural_networks.augmentation import RandomCropFlip, RandomFlip, initialize_augmentation
from neural_networks.datasets import Data, Dataset


def distinct_images(n, rows, cols, channels, dtype=np.float64):
    """Images whose pixels are 1, 2, 3, ... (never 0, so never confused with padding)."""
    return (np.arange(n * rows * cols * channels) + 1).reshape(n, rows, cols, channels).astype(dtype)


def identify(X, out, pad):
    """For each image, the (row offset, col offset, flipped) that turns X into out.

    Raises AssertionError unless exactly one candidate matches each image.
    """
    n, rows, cols, _ = X.shape
    padded = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    candidates = []
    matches = []
    for r in range(2 * pad + 1):
        for c in range(2 * pad + 1):
            crop = padded[:, r:r + rows, c:c + cols]
            for flipped in (False, True):
                candidate = crop[:, :, ::-1] if flipped else crop
                candidates.append((r, c, flipped))
                matches.append(np.all(candidate == out, axis=(1, 2, 3)))
    matches = np.array(matches)  # (candidates, n)
    counts = matches.sum(axis=0)
    if not np.all(counts == 1):
        bad = np.flatnonzero(counts != 1)
        raise AssertionError(
            f"{bad.size} images match {counts[bad[:5]]} candidates instead of exactly one "
            f"(first: image {bad[0]})"
        )
    which = matches.argmax(axis=0)
    return np.array([candidates[k] for k in which], dtype=object)


class TestRandomCropFlip(unittest.TestCase):
    def test_shape_and_dtype_are_kept(self):
        for dtype in (np.float32, np.float64, np.uint8):
            with self.subTest(dtype=dtype):
                X = distinct_images(5, 6, 7, 3).astype(dtype)
                np.random.seed(0)
                out = RandomCropFlip(pad=2)(X)
                self.assertEqual(out.shape, X.shape)
                self.assertEqual(out.dtype, X.dtype)

    def test_every_image_is_a_padded_crop_possibly_flipped(self):
        for pad, rows, cols, channels in ((4, 8, 8, 3), (1, 5, 4, 2), (2, 3, 6, 1)):
            with self.subTest(pad=pad, shape=(rows, cols, channels)):
                X = distinct_images(40, rows, cols, channels)
                np.random.seed(1)
                out = RandomCropFlip(pad=pad)(X)
                found = identify(X, out, pad)
                self.assertEqual(len(found), 40)
                # The input was not modified in place.
                np.testing.assert_array_equal(X, distinct_images(40, rows, cols, channels))

    def test_offsets_cover_the_range_and_flips_are_about_half(self):
        pad = 2
        n = 4000
        X = distinct_images(n, 5, 5, 1)
        np.random.seed(2)
        found = identify(X, RandomCropFlip(pad=pad)(X), pad)
        pairs = {(r, c) for r, c, _ in found}
        self.assertEqual(pairs, {(r, c) for r in range(2 * pad + 1) for c in range(2 * pad + 1)})
        # 4000 fair coin flips: standard deviation of the fraction ~0.008, bound 0.04 is 5 sd.
        flipped = np.mean([f for _, _, f in found])
        self.assertAlmostEqual(flipped, 0.5, delta=0.04)
        # Offsets are uniform: each row offset about 1/5 of the images.
        rows = np.bincount([r for r, _, _ in found], minlength=2 * pad + 1) / n
        np.testing.assert_allclose(rows, 0.2, atol=0.04)

    def test_flip_probability(self):
        X = distinct_images(500, 4, 5, 2)
        for p, low, high in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.2, 0.14, 0.26)):
            with self.subTest(flip_probability=p):
                np.random.seed(3)
                found = identify(X, RandomCropFlip(pad=1, flip_probability=p)(X), 1)
                fraction = np.mean([f for _, _, f in found])
                self.assertGreaterEqual(fraction, low)
                self.assertLessEqual(fraction, high)

    def test_no_flip_when_flip_is_false(self):
        X = distinct_images(300, 4, 4, 1)
        np.random.seed(4)
        found = identify(X, RandomCropFlip(pad=1, flip=False)(X), 1)
        self.assertFalse(any(f for _, _, f in found))
        self.assertGreater(len({(r, c) for r, c, _ in found}), 1)

    def test_flip_only(self):
        X = distinct_images(200, 4, 6, 2)
        for augment in (RandomCropFlip(pad=0, flip=True), RandomFlip()):
            with self.subTest(augment=type(augment).__name__):
                np.random.seed(5)
                out = augment(X)
                same = np.all(out == X, axis=(1, 2, 3))
                mirrored = np.all(out == X[:, :, ::-1], axis=(1, 2, 3))
                self.assertTrue(np.all(same ^ mirrored))
                self.assertTrue(same.any() and mirrored.any())

    def test_identity_without_pad_and_flip(self):
        X = distinct_images(10, 4, 5, 3)
        np.testing.assert_array_equal(RandomCropFlip(pad=0, flip=False)(X), X)

    def test_same_seed_same_batch(self):
        X = distinct_images(30, 6, 6, 3)
        augment = RandomCropFlip(pad=3)
        np.random.seed(6)
        first = augment(X)
        second = augment(X)
        np.random.seed(6)
        again = augment(X)
        np.testing.assert_array_equal(first, again)
        self.assertFalse(np.array_equal(first, second))

    def test_draws_come_in_a_fixed_order(self):
        # Row offsets, column offsets, then flips, whatever the settings: a seed
        # keeps giving the batches (and so the trained models) it gave before.
        n, rows, cols = 16, 5, 6
        X = distinct_images(n, rows, cols, 2)
        for augment in (RandomCropFlip(pad=2), RandomFlip(), RandomCropFlip(pad=1, flip=False)):
            with self.subTest(pad=augment.pad, flip=augment.flip):
                np.random.seed(7)
                out = augment(X)
                np.random.seed(7)
                row_offsets = np.random.randint(0, 2 * augment.pad + 1, n)
                col_offsets = np.random.randint(0, 2 * augment.pad + 1, n)
                flips = (np.random.random_sample(n) < 0.5) if augment.flip else np.zeros(n, bool)
                padded = np.pad(X, ((0, 0), (augment.pad,) * 2, (augment.pad,) * 2, (0, 0)))
                for k in range(n):
                    r, c = row_offsets[k], col_offsets[k]
                    expected = padded[k, r:r + rows, c:c + cols]
                    np.testing.assert_array_equal(out[k], expected[:, ::-1] if flips[k] else expected)

    def test_rejects_what_is_not_nhwc(self):
        augment = RandomCropFlip()
        for shape in ((4, 8), (4, 8, 8), (8,), (2, 4, 4, 3, 1)):
            with self.subTest(shape=shape), self.assertRaisesRegex(ValueError, "NHWC"):
                augment(np.ones(shape))

    def test_bad_settings(self):
        for kwargs in ({"pad": -1}, {"pad": 1.5}, {"pad": "4"}, {"flip_probability": 1.5},
                       {"flip_probability": -0.1}):
            with self.subTest(**kwargs), self.assertRaises(ValueError):
                RandomCropFlip(**kwargs)
        # bool is not a number and a string is not a bool; NaN is in no range.
        for kwargs in ({"pad": True}, {"flip": "no"}, {"flip": 1},
                       {"flip_probability": float("nan")}, {"flip_probability": "0.5"},
                       {"flip_probability": True}, {"flip_probability": None}):
            (setting, value), = kwargs.items()
            with self.subTest(**kwargs), self.assertRaises(ValueError) as raised:
                RandomCropFlip(**kwargs)
            self.assertIn(setting, str(raised.exception))
            self.assertIn(repr(value), str(raised.exception))

    def test_factory(self):
        augment = initialize_augmentation("crop_flip", pad=2, flip=False)
        self.assertIsInstance(augment, RandomCropFlip)
        self.assertEqual((augment.pad, augment.flip), (2, False))
        flip = initialize_augmentation("flip", flip_probability=0.25)
        self.assertIsInstance(flip, RandomFlip)
        self.assertEqual((flip.pad, flip.flip, flip.flip_probability), (0, True, 0.25))
        self.assertIsNone(initialize_augmentation(None))
        with self.assertRaisesRegex(ValueError, "'crop_flip', 'flip'"):
            initialize_augmentation("cutout")

    def test_factory_refuses_unknown_names_and_options(self):
        with self.assertRaisesRegex(ValueError, r"\['flip'\].*'crop_flip', 'flip'"):
            initialize_augmentation(["flip"])
        # RandomFlip has no pad: refused, not a TypeError (nor ignored).
        cases = [("flip", {"pad": 2}, "'pad'", ("flip_probability",)),
                 ("crop_flip", {"flip_prob": 0.3}, "'flip_prob'",
                  ("pad", "flip", "flip_probability")),
                 ("crop_flip", {"padding": 2}, "'padding'", ("pad", "flip_probability"))]
        for name, options, bad, accepted in cases:
            with self.subTest(name=name, options=options):
                with self.assertRaises(ValueError) as raised:
                    initialize_augmentation(name, **options)
                message = str(raised.exception)
                self.assertIn(bad, message)
                for word in accepted:
                    self.assertIn(word, message)


class TestDataApplies(unittest.TestCase):
    def setUp(self):
        self.n = 24
        self.X = distinct_images(self.n, 5, 5, 2)
        # Label k is the example's index, so each batch can be traced to its inputs.
        self.Y = np.eye(self.n)

    def test_training_data_augments_its_batches(self):
        data = Data(self.X, batch_size=8, labels=self.Y, out_dim=self.n,
                    augment=RandomCropFlip(pad=2))
        np.random.seed(7)
        changed = 0
        for _ in range(2 * data.samples_per_epoch):
            X, Y = data.sample()
            idx = Y.argmax(axis=1)
            identify(self.X[idx], X, 2)
            changed += np.sum(np.any(X != self.X[idx], axis=(1, 2, 3)))
        self.assertGreater(changed, 0)

    def test_without_augment_batches_are_the_rows(self):
        data = Data(self.X, batch_size=8, labels=self.Y, out_dim=self.n)
        self.assertIsNone(data.augment)
        np.random.seed(8)
        for _ in range(data.samples_per_epoch):
            X, Y = data.sample()
            np.testing.assert_array_equal(X, self.X[Y.argmax(axis=1)])

    def test_only_the_training_split_when_set_on_it(self):
        dataset = Dataset(self.X, self.Y, batch_size=8, validation_set=self.X,
                          validation_labels=self.Y, test_set=self.X, test_labels=self.Y)
        for split in (dataset.train, dataset.validate, dataset.test):
            self.assertIsNone(split.augment)  # off by default
        dataset.train.augment = RandomCropFlip(pad=2)
        np.random.seed(9)
        X, Y = dataset.train.sample()
        self.assertTrue(np.any(X != self.X[Y.argmax(axis=1)]))
        for split in (dataset.validate, dataset.test):
            X, Y = split.sample()
            np.testing.assert_array_equal(X, self.X[Y.argmax(axis=1)])
            np.testing.assert_array_equal(split.data, self.X)
        # The stored training data itself is untouched.
        np.testing.assert_array_equal(dataset.train.data, self.X)


if __name__ == "__main__":
    unittest.main()
