"""The pure functions of the neural_networks/functional package, called directly.

affine, batch norm and flatten are checked against PyTorch float64 autograd
(``torch.nn.functional``) and against exact hand-worked numbers; dropout
against the mask drawn by hand from numpy's global generator. Each pure
function must also leave its inputs as they were (only batchnorm_backward
with ``overwrite_dZ=True`` may write into dZ). The convolution and pooling
functions are checked against PyTorch in tests/test_properties.py; the
stride-1 input gradient by row shifts also against its definition, summed in
loops, here. The package's boundaries are checked here too: what its modules
import, that no private name crosses a module, that every name of the
single-module functional.py it replaced is still a name of the package.
"""

import ast
import importlib.util
import inspect
import pathlib
import unittest
from unittest import mock

import numpy as np

from neural_networks import functional, parallel
from neural_networks.functional import blocking, conv, dense
from tests.support import require_torch

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the reference extra: the tests that use it call require_torch
    torch = F = None


def assert_close(actual, expected, what, rtol=1e-12):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-13, err_msg=what)


def tensor(A):
    return torch.from_numpy(np.array(A, dtype=np.float64)).requires_grad_()


def copies(*arrays):
    return [np.array(a, copy=True) for a in arrays]


#: Every public name of functional.py before it became a package of modules.
SINGLE_MODULE_NAMES = (
    "BLOCK_BYTES", "CHAIN_BLOCK_BYTES", "MIN_BLOCKS", "PARALLEL_AFFINE_FLOPS",
    "POSITIONS_PER_PIECE", "REDUCE_BLOCK_BYTES", "SMALL_PRODUCT",
    "affine_backward", "affine_forward", "as_pair", "avgpool2d_backward", "avgpool2d_forward",
    "batchnorm_backward", "batchnorm_forward", "conv2d_backward", "conv2d_forward",
    "dropout_backward", "dropout_forward", "flatten_backward", "flatten_forward", "im2col",
    "maxpool2d_backward", "maxpool2d_forward", "output_shape", "pad_amounts", "pad_input",
    "windows",
)


def library_files():
    """(module name, path) of every module of the library."""
    root = pathlib.Path(functional.__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def is_library_module(name):
    """True when ``name`` is a module of the library (importing it to find out)."""
    if not name.startswith("neural_networks"):
        return False
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        return False
    return True


def imports(module_name, path):
    """What a module imports: (line, module, name or None, local name) per imported name.

    A library module imported by ``from`` counts as a module: in
    neural_networks.functional.conv, ``from .. import parallel`` gives
    (line, "neural_networks.parallel", None, "parallel").
    """
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                yield (node.lineno, alias.name if alias.asname else top, None,
                       alias.asname or top)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                local = alias.asname or alias.name
                if is_library_module(f"{base}.{alias.name}"):
                    yield node.lineno, f"{base}.{alias.name}", None, local
                else:
                    yield node.lineno, base, alias.name, local


class TestModuleBoundaries(unittest.TestCase):
    def test_functional_imports_neither_layers_nor_models(self):
        # Its own modules and the leaves: parallel (threads for blocks of work),
        # backend (numpy or CuPy) and utils.checks (settings' checks), which import
        # nothing from the library but one another.
        leaves = {"neural_networks.parallel", "neural_networks.backend",
                  "neural_networks.utils.checks"}
        files = dict(library_files())
        package_files = [(name, path) for name, path in files.items()
                         if name.split(".")[:2] == ["neural_networks", "functional"]]
        self.assertGreater(len(package_files), 1)
        for module_name, path in package_files + [(leaf, files[leaf]) for leaf in leaves]:
            imported = [module for _, module, _, _ in imports(module_name, path)]
            self.assertTrue(imported, module_name)
            inside = module_name.split(".")[:2] == ["neural_networks", "functional"]
            for base in imported:
                allowed = base in leaves or (inside and base.split(".")[:2]
                                             == ["neural_networks", "functional"])
                self.assertFalse(base.startswith("neural_networks") and not allowed,
                                 f"{module_name} imports {base}")

    def test_no_private_name_crosses_a_module(self):
        # Inside the package, and from the library into it: a helper two
        # modules use is a documented public name of the module that owns it.
        def in_functional(name):
            return name.split(".")[:2] == ["neural_networks", "functional"]

        for module_name, path in library_files():
            modules = {}  # local name -> library module it is bound to
            for line, module, name, local in imports(module_name, path):
                if not module.startswith("neural_networks"):
                    continue
                if name is None:
                    modules[local] = module
                elif name.startswith("_") and (in_functional(module)
                                               or in_functional(module_name)):
                    self.fail(f"{path.name}:{line} imports {name} from {module}")
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in modules and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and (in_functional(modules[node.value.id])
                             or in_functional(module_name))):
                    self.fail(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")

    def test_every_name_of_the_single_module_is_a_name_of_the_package(self):
        for name in SINGLE_MODULE_NAMES:
            with self.subTest(name=name):
                owners = [module for module in vars(functional).values()
                          if inspect.ismodule(module) and module.__name__.startswith(
                              "neural_networks.functional.") and name in vars(module)]
                self.assertEqual(len(owners), 1, f"{name} is defined in {owners}")
                self.assertIs(getattr(functional, name), getattr(owners[0], name))
        modules = ["blocking", "conv", "dense", "dropout", "geometry", "normalization", "pooling"]
        added_since = ["groupnorm_backward", "groupnorm_forward"]
        self.assertEqual(sorted(functional.__all__),
                         sorted(modules + list(SINGLE_MODULE_NAMES) + added_since))

    def test_a_setting_set_on_the_package_is_set_where_it_is_read(self):
        # functional.CHAIN_BLOCK_BYTES = ... shrank batch norm's blocks when
        # functional was one module; it still does.
        X, gamma, beta, mean, var = batchnorm_inputs((50, 3), 9)  # rows of 24 bytes
        with mock.patch.object(parallel, "for_each", wraps=parallel.for_each) as for_each:
            with mock.patch.object(functional, "REDUCE_BLOCK_BYTES", 5 * 24), \
                    mock.patch.object(functional, "CHAIN_BLOCK_BYTES", 7 * 24), \
                    mock.patch.object(functional, "PARALLEL_AFFINE_FLOPS", 1):
                self.assertEqual((blocking.REDUCE_BLOCK_BYTES, blocking.CHAIN_BLOCK_BYTES,
                                  dense.PARALLEL_AFFINE_FLOPS), (5 * 24, 7 * 24, 1))
                functional.batchnorm_forward(X, gamma, beta, mean, var, 0.1, 1e-5, True)
        # 10 blocks of 5 rows for the statistics, then 8 of at most 7 for the output
        self.assertEqual([call.args[1] for call in for_each.call_args_list], [10, 8])
        # and the settings are put back on leaving
        self.assertEqual((blocking.REDUCE_BLOCK_BYTES, blocking.CHAIN_BLOCK_BYTES,
                          dense.PARALLEL_AFFINE_FLOPS), (1 << 20, 1 << 20, 1 << 22))
        self.assertEqual(functional.CHAIN_BLOCK_BYTES, 1 << 20)

    def test_every_layer_pair_is_there(self):
        for name in ("affine", "conv2d", "maxpool2d", "avgpool2d", "flatten", "batchnorm",
                     "dropout", "groupnorm"):
            for way in ("forward", "backward"):
                with self.subTest(function=f"{name}_{way}"):
                    self.assertTrue(callable(getattr(functional, f"{name}_{way}")))


class TestAffine(unittest.TestCase):
    def test_by_hand(self):
        X = np.array([[1.0, 2.0], [3.0, -1.0]])
        W = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.5]])
        b = np.array([[0.5, -1.0, 0.0]])
        Z = functional.affine_forward(X, W, b)
        np.testing.assert_array_equal(Z, [[-0.5, 1.0, 3.0], [4.5, -2.0, 5.5]])
        dZ = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
        dX, dW, db = functional.affine_backward(dZ, X, W)
        np.testing.assert_array_equal(dX, [[-1.0, -1.5], [2.0, -1.0]])  # dZ W^T
        np.testing.assert_array_equal(dW, [[7.0, 3.0, -1.0], [0.0, -1.0, -2.0]])  # X^T dZ
        np.testing.assert_array_equal(db, [[3.0, 1.0, -1.0]])

    def test_against_torch(self):
        require_torch()
        rng = np.random.default_rng(0)
        for batch, n_in, n_out in ((1, 3, 2), (7, 5, 4), (16, 1, 9)):
            with self.subTest(batch=batch, n_in=n_in, n_out=n_out):
                X, W, b = (rng.standard_normal(s) for s in ((batch, n_in), (n_in, n_out),
                                                            (1, n_out)))
                dZ = rng.standard_normal((batch, n_out))
                inputs = copies(X, W, b, dZ)
                Z = functional.affine_forward(X, W, b)
                dX, dW, db = functional.affine_backward(dZ, X, W)
                x_t, w_t, b_t = tensor(X), tensor(W), tensor(b[0])
                z_t = F.linear(x_t, w_t.T, b_t)
                z_t.backward(torch.from_numpy(dZ))
                assert_close(Z, z_t.detach().numpy(), "Z")
                assert_close(dX, x_t.grad.numpy(), "dX")
                assert_close(dW, w_t.grad.numpy(), "dW")
                assert_close(db, b_t.grad.numpy()[None, :], "db")
                for before, after in zip(inputs, (X, W, b, dZ), strict=True):
                    np.testing.assert_array_equal(before, after)

    def test_float32_stays_float32(self):
        rng = np.random.default_rng(1)
        X, W, b, dZ = (rng.standard_normal(s).astype(np.float32)
                       for s in ((4, 3), (3, 2), (1, 2), (4, 2)))
        self.assertEqual(functional.affine_forward(X, W, b).dtype, np.float32)
        for grad in functional.affine_backward(dZ, X, W):
            self.assertEqual(grad.dtype, np.float32)


class TestWithoutTheInputGradient(unittest.TestCase):
    """input_gradient=False: dX is None, and dW, db (dgamma, dbeta) are those of the
    whole backward, bit for bit (a network's first layer needs no dX)."""

    def test_affine(self):
        rng = np.random.default_rng(3)
        for batch, n_in, n_out in ((4, 3, 2), (512, 128, 64)):  # the second on two threads
            with self.subTest(batch=batch):
                X, W, dZ = (rng.standard_normal(s) for s in ((batch, n_in), (n_in, n_out),
                                                            (batch, n_out)))
                with parallel.session():
                    _, dW, db = functional.affine_backward(dZ, X, W)
                    dX, dW_only, db_only = functional.affine_backward(dZ, X, W,
                                                                      input_gradient=False)
                self.assertIsNone(dX)
                np.testing.assert_array_equal(dW_only, dW)
                np.testing.assert_array_equal(db_only, db)

    def test_batchnorm(self):
        for relu in (False, True):
            for training in (True, False):
                with self.subTest(relu=relu, training=training):
                    X, gamma, beta, mean, var = batchnorm_inputs((6, 4), 2)
                    Z, used_mean, inv_std, _, _ = functional.batchnorm_forward(
                        X, gamma, beta, mean, var, 0.1, 1e-5, training, relu=relu)
                    dZ = np.random.default_rng(4).standard_normal(X.shape)
                    relu_output = Z if relu else None
                    _, dgamma, dbeta = functional.batchnorm_backward(
                        dZ, X, used_mean, inv_std, gamma, training, relu_output=relu_output)
                    dX, dgamma_only, dbeta_only = functional.batchnorm_backward(
                        dZ, X, used_mean, inv_std, gamma, training, relu_output=relu_output,
                        input_gradient=False)
                    self.assertIsNone(dX)
                    np.testing.assert_array_equal(dgamma_only, dgamma)
                    np.testing.assert_array_equal(dbeta_only, dbeta)


class TestConvInputGradientByRowShifts(unittest.TestCase):
    """The stride-1 input gradient built from shifted rows of dZ, against the
    definition dXpad[n, y + i, x + j] += W[i, j] dZ[n, y, x], summed in loops."""

    @staticmethod
    def by_loops(dZ, W, pads, X_shape):
        kr, kc = W.shape[:2]
        n, rows, cols, _ = X_shape
        dXpad = np.zeros((n, rows + 2 * pads[0], cols + 2 * pads[1], W.shape[2]))
        for i in range(kr):
            for j in range(kc):
                dXpad[:, i:i + dZ.shape[1], j:j + dZ.shape[2]] += dZ @ W[i, j].T
        return dXpad[:, pads[0]:pads[0] + rows, pads[1]:pads[1] + cols]

    def test_every_kernel_and_padding(self):
        rng = np.random.default_rng(11)
        kernels = [(3, 3), (3, 5), (5, 3), (4, 4), (2, 2), (1, 1)]
        pads = [(0, 0), (1, 1), (2, 2), (0, 2), (2, 1), (3, 3)]
        used = 0
        for kernel in kernels:
            for pad in pads:
                # 11 images: blocks of the batch, the last one shorter.
                X = rng.normal(size=(11, 7, 6, 4))
                W = rng.normal(size=(*kernel, 4, 3))
                if not conv._row_shifts(W.shape, 1):
                    continue
                with self.subTest(kernel=kernel, pad=pad):
                    Z, cols = functional.conv2d_forward(X, W, np.zeros((1, 3)), 1, pad, {})
                    dZ = rng.normal(size=Z.shape)
                    dX, _, _ = functional.conv2d_backward(dZ, cols, X.shape, W, 1, pad, {})
                    assert_close(dX, self.by_loops(dZ, W, pad, X.shape), "dX")
                    used += 1
        self.assertEqual(used, len(kernels) * len(pads))

    def test_chosen_only_for_stride_1_and_few_output_channels(self):
        self.assertTrue(conv._row_shifts((3, 3, 32, 64), 1))
        self.assertTrue(conv._row_shifts((3, 3, 32, 96), 1))
        self.assertFalse(conv._row_shifts((3, 3, 32, 97), 1))
        self.assertFalse(conv._row_shifts((3, 3, 32, 64), 2))

    def test_a_smaller_batch_after_a_larger_one_reuses_the_buffers(self):
        rng = np.random.default_rng(12)
        W = rng.normal(size=(3, 3, 8, 4))
        workspace = {}
        for n in (9, 3):
            X = rng.normal(size=(n, 5, 5, 8))
            Z, cols = functional.conv2d_forward(X, W, np.zeros((1, 4)), 1, (1, 1), workspace)
            dZ = rng.normal(size=Z.shape)
            dX, _, _ = functional.conv2d_backward(dZ, cols, X.shape, W, 1, (1, 1), workspace)
            assert_close(dX, self.by_loops(dZ, W, (1, 1), X.shape), f"dX, batch {n}")


class TestConvRowsLayoutMemory(unittest.TestCase):
    def test_the_batch_im2col_matrix_is_never_kept(self):
        # The rows layout builds the matrix a block of images at a time; the
        # backward pass rebuilds it from X, which is what the forward returns.
        rng = np.random.default_rng(13)
        X = rng.normal(size=(64, 16, 16, 16))
        W = rng.normal(size=(3, 3, 16, 32))
        b = rng.normal(size=(1, 32))
        workspace = {}
        Z, saved = functional.conv2d_forward(X, W, b, 1, (1, 1), workspace)
        self.assertIs(saved, X)
        dZ = rng.normal(size=Z.shape)
        dX, dW, db = functional.conv2d_backward(dZ, saved, X.shape, W, 1, (1, 1), workspace)
        whole_matrix = 64 * 16 * 16 * 3 * 3 * 16 * X.itemsize
        kept = sum(array.nbytes for array in workspace.values())
        self.assertLess(kept, whole_matrix / 2)
        # and the results are those of the definition (sums of up to 16384
        # terms: compared to 1e-12 of the largest value)
        cols = np.lib.stride_tricks.sliding_window_view(
            np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), axis=(1, 2))
        for what, got, expected in [
            ("Z", Z, np.einsum("nrcdij,ijdo->nrco", cols, W) + b),
            ("dW", dW, np.einsum("nrcdij,nrco->ijdo", cols, dZ)),
            ("db", db, dZ.sum(axis=(0, 1, 2))[None, :]),
        ]:
            np.testing.assert_allclose(got, expected, rtol=0,
                                       atol=1e-12 * np.abs(expected).max(), err_msg=what)


class TestFlatten(unittest.TestCase):
    def test_shapes_and_order(self):
        X = np.arange(24.0).reshape(2, 3, 4)
        Y = functional.flatten_forward(X, "first")
        np.testing.assert_array_equal(Y, np.arange(24.0).reshape(2, 12))
        self.assertTrue(np.shares_memory(Y, X))  # a view, no copy
        Y_last = functional.flatten_forward(X, "last")
        np.testing.assert_array_equal(Y_last, np.arange(24.0).reshape(6, 4))
        dY = np.arange(12.0).reshape(2, 6) * -1
        np.testing.assert_array_equal(functional.flatten_backward(dY, (2, 3, 2)),
                                      -np.arange(12.0).reshape(2, 3, 2))

    def test_unknown_keep_dim(self):
        with self.assertRaisesRegex(ValueError, "'first' or 'last', got 'middle'"):
            functional.flatten_forward(np.zeros((2, 3)), "middle")


def batchnorm_inputs(shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    X = rng.normal(1.0, 2.0, size=shape).reshape(-1, C)
    gamma = rng.uniform(0.5, 2.0, size=(1, C))
    beta = rng.normal(size=(1, C))
    running_mean = rng.normal(size=(1, C))
    running_var = rng.uniform(0.5, 2.0, size=(1, C))
    return X, gamma, beta, running_mean, running_var


class TestBatchNormByHand(unittest.TestCase):
    """One channel, X = (1, 3): mean 2, biased variance 2/3, unbiased 1."""

    def test_training_forward(self):
        X = np.array([[1.0], [2.0], [3.0]])
        eps, momentum = 1e-5, 0.25
        Z, batch_mean, inv_std, mean, var = functional.batchnorm_forward(
            X, np.array([[2.0]]), np.array([[0.5]]), np.array([[0.0]]), np.array([[1.0]]),
            momentum, eps, training=True)
        inv = 1 / np.sqrt(2 / 3 + eps)
        assert_close(inv_std, [[inv]], "inv_std")
        assert_close(batch_mean, [[2.0]], "batch mean")
        assert_close(Z, [[0.5 - 2 * inv], [0.5], [0.5 + 2 * inv]], "Z")
        assert_close(mean, [[0.75 * 0.0 + 0.25 * 2.0]], "running mean")
        assert_close(var, [[0.75 * 1.0 + 0.25 * 1.0]], "running variance (unbiased)")

    def test_eval_forward_uses_and_keeps_the_running_statistics(self):
        X = np.array([[1.0], [2.0], [3.0]])
        running_mean, running_var = np.array([[1.0]]), np.array([[4.0]])
        Z, used_mean, inv_std, mean, var = functional.batchnorm_forward(
            X, np.array([[2.0]]), np.array([[0.5]]), running_mean, running_var, 0.25, 0.0,
            training=False)
        self.assertIs(used_mean, running_mean)
        assert_close(Z, [[0.5], [1.5], [2.5]], "Z")
        assert_close(inv_std, [[0.5]], "inv_std")
        self.assertIs(mean, running_mean)
        self.assertIs(var, running_var)
        np.testing.assert_array_equal(running_mean, [[1.0]])
        np.testing.assert_array_equal(running_var, [[4.0]])

    def test_eval_backward_is_a_scale(self):
        dZ = np.array([[1.0], [-2.0], [3.0]])
        X = np.array([[1.0], [2.0], [3.0]])  # X_hat = (X - 1) * 0.5 = 0, 0.5, 1
        dX, dgamma, dbeta = functional.batchnorm_backward(
            dZ, X, np.array([[1.0]]), np.array([[0.5]]), np.array([[2.0]]), training=False)
        np.testing.assert_array_equal(dX, dZ)  # gamma * inv_std = 1
        np.testing.assert_array_equal(dgamma, [[0.0 - 1.0 + 3.0]])
        np.testing.assert_array_equal(dbeta, [[2.0]])


class TestBatchNormAgainstTorch(unittest.TestCase):
    SHAPES = ((6, 4), (3, 5, 2), (2, 4, 3, 3))

    def setUp(self):
        require_torch()

    def torch_reference(self, X, gamma, beta, running_mean, running_var, momentum, eps,
                        training, dZ):
        x_t, g_t, b_t = tensor(X), tensor(gamma[0]), tensor(beta[0])
        mean_t = torch.from_numpy(running_mean[0].copy())
        var_t = torch.from_numpy(running_var[0].copy())
        z_t = F.batch_norm(x_t, mean_t, var_t, g_t, b_t, training=training,
                           momentum=momentum, eps=eps)
        z_t.backward(torch.from_numpy(dZ))
        return {"Z": z_t.detach().numpy(), "dX": x_t.grad.numpy(),
                "dgamma": g_t.grad.numpy()[None, :], "dbeta": b_t.grad.numpy()[None, :],
                "running_mean": mean_t.numpy()[None, :], "running_var": var_t.numpy()[None, :]}

    def test_forward_and_backward(self):
        for k, shape in enumerate(self.SHAPES):
            for training in (True, False):
                for momentum, eps in ((0.1, 1e-5), (0.3, 1e-3)):
                    with self.subTest(shape=shape, training=training, momentum=momentum):
                        X, gamma, beta, mean, var = batchnorm_inputs(shape, k)
                        dZ = np.random.default_rng(10 + k).standard_normal(X.shape)
                        inputs = copies(X, gamma, beta, mean, var, dZ)
                        Z, used_mean, inv_std, new_mean, new_var = functional.batchnorm_forward(
                            X, gamma, beta, mean, var, momentum, eps, training)
                        dX, dgamma, dbeta = functional.batchnorm_backward(
                            dZ, X, used_mean, inv_std, gamma, training)
                        ours = {"Z": Z, "dX": dX, "dgamma": dgamma, "dbeta": dbeta,
                                "running_mean": new_mean, "running_var": new_var}
                        oracle = self.torch_reference(X, gamma, beta, mean, var, momentum,
                                                      eps, training, dZ)
                        for name, value in ours.items():
                            assert_close(value, oracle[name], name, rtol=1e-10)
                        # Pure: every input as it came, dZ included.
                        for before, after in zip(inputs, (X, gamma, beta, mean, var, dZ),
                                                 strict=True):
                            np.testing.assert_array_equal(before, after)

    def test_overwrite_dZ_gives_the_same_numbers(self):
        X, gamma, beta, mean, var = batchnorm_inputs((8, 3), 5)
        dZ = np.random.default_rng(6).standard_normal(X.shape)
        _, used_mean, inv_std, _, _ = functional.batchnorm_forward(X, gamma, beta, mean, var,
                                                                   0.1, 1e-5, True)
        kept = functional.batchnorm_backward(dZ.copy(), X, used_mean, inv_std, gamma, True)
        scratch = dZ.copy()
        overwritten = functional.batchnorm_backward(scratch, X, used_mean, inv_std, gamma, True,
                                                    overwrite_dZ=True)
        for a, b in zip(kept, overwritten, strict=True):
            np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(scratch, dZ))  # it did serve as scratch space

    def test_relu_is_the_maximum_of_the_plain_output(self):
        X, gamma, beta, mean, var = batchnorm_inputs((2, 5, 4), 8)
        for training in (True, False):
            with self.subTest(training=training):
                plain = functional.batchnorm_forward(X, gamma, beta, mean, var, 0.1, 1e-5,
                                                     training)
                fused = functional.batchnorm_forward(X, gamma, beta, mean, var, 0.1, 1e-5,
                                                     training, relu=True)
                self.assertTrue(np.any(plain[0] < 0))
                assert_close(fused[0], np.maximum(plain[0], 0), "Z", rtol=1e-12)
                for a, b in zip(plain[1:], fused[1:], strict=True):
                    np.testing.assert_array_equal(a, b)

    def test_blocks_give_the_same_numbers(self):
        X, gamma, beta, mean, var = batchnorm_inputs((50, 3), 9)
        dZ = np.random.default_rng(10).standard_normal(X.shape)
        _, used_mean, inv_std, _, _ = functional.batchnorm_forward(X, gamma, beta, mean, var,
                                                                   0.1, 1e-5, True)
        whole = functional.batchnorm_backward(dZ, X, used_mean, inv_std, gamma, True)
        saved = blocking.CHAIN_BLOCK_BYTES
        blocking.CHAIN_BLOCK_BYTES = 7 * 3 * X.itemsize  # blocks of 7 rows, a last of 1
        try:
            blocked = functional.batchnorm_backward(dZ, X, used_mean, inv_std, gamma, True)
        finally:
            blocking.CHAIN_BLOCK_BYTES = saved
        for a, b in zip(whole, blocked, strict=True):
            np.testing.assert_array_equal(a, b)

    def test_float32_stays_float32(self):
        X, gamma, beta, mean, var = (a.astype(np.float32) for a in batchnorm_inputs((5, 3), 7))
        for training in (True, False):
            with self.subTest(training=training):
                out = functional.batchnorm_forward(X, gamma, beta, mean, var, 0.1, 1e-5,
                                                   training)
                grads = functional.batchnorm_backward(np.ones_like(X), X, out[1], out[2], gamma,
                                                      training)
                for array in (*out, *grads):
                    self.assertEqual(array.dtype, np.float32)


class TestDropout(unittest.TestCase):
    def test_mask_is_drawn_from_the_global_generator(self):
        X = np.random.default_rng(0).uniform(1.0, 2.0, size=(40, 30))
        for p in (0.1, 0.5, 0.9):
            with self.subTest(p=p):
                np.random.seed(3)
                expected_keep = np.random.random_sample(X.shape) >= p
                after_draw = np.random.get_state()[1].copy()
                np.random.seed(3)
                Y, mask = functional.dropout_forward(X, p)
                np.testing.assert_array_equal(mask, expected_keep * (1 / (1 - p)))
                np.testing.assert_array_equal(Y, X * mask)
                np.testing.assert_array_equal(np.random.get_state()[1], after_draw)
                dY = np.arange(X.size, dtype=float).reshape(X.shape)
                np.testing.assert_array_equal(functional.dropout_backward(dY, mask), dY * mask)

    def test_nothing_dropped_in_eval_mode_or_with_p_zero(self):
        X = np.ones((5, 4))
        for p, training in ((0.5, False), (0.0, True)):
            with self.subTest(p=p, training=training):
                state = np.random.get_state()[1].copy()
                Y, mask = functional.dropout_forward(X, p, training)
                self.assertIs(Y, X)
                self.assertIsNone(mask)
                np.testing.assert_array_equal(np.random.get_state()[1], state)  # no draw
                dY = np.full((5, 4), 2.0)
                self.assertIs(functional.dropout_backward(dY, mask), dY)

    def test_float32_mask(self):
        np.random.seed(0)
        X = np.ones((6, 6), dtype=np.float32)
        Y, mask = functional.dropout_forward(X, 0.25)
        self.assertEqual((Y.dtype, mask.dtype), (np.float32, np.float32))
        self.assertEqual(set(np.unique(mask)), {np.float32(0), np.float32(1 / 0.75)})


if __name__ == "__main__":
    unittest.main()
