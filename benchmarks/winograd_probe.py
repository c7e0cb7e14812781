"""Would Winograd's F(2x2, 3x3) make the library's 3x3 convolutions faster? A probe.

    python benchmarks/winograd_probe.py [--dtype float32|float64]

Winograd's F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016) computes each 2x2 tile of outputs from a 4x4 tile of
inputs with 16 multiplies per channel pair instead of im2col's 36: 2.25 times
fewer. In exchange it transforms every input tile (V = B^T d B) and every
output tile (Y = A^T M A), passes over memory that numpy cannot fuse into the
matrix products.

This probe runs a plain numpy F(2x2, 3x3) forward pass (stride 1, padding 1)
a few images at a time, with every buffer allocated once, on one thread with
BLAS on one thread, and times it beside the library's im2col forward pass
(``functional.conv2d_forward``) on the same thread. It checks the two agree,
and prints the time of each part of the Winograd pass (input transform, the
16 products, output transform, writing the output), so that anyone can see
where the multiplies saved go. The library does not use it: see the closing
note of issue 12 and BENCHMARKS.md.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench_layers import cpu_name
from neural_networks import functional as F
from neural_networks.utils.memory import keep_freed_memory

#: F(2x2, 3x3) transforms (Lavin & Gray 2016, section 4.1)
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])

#: (rows, in_channels, out_channels): the stride-1 3x3 layers of the CNN recipe
#: and of bench_layers.py
SHAPES = [(14, 32, 64), (7, 64, 128), (32, 32, 64)]
BATCH = 128
IMAGES_PER_BLOCK = 4


def transform_rows(out, x, T):
    """out[a] = sum_i T[a, i] x[i] for a 4x4 transform T with entries 0 and +-1."""
    for a in range(4):
        terms = [(T[a, i], x[i]) for i in range(4) if T[a, i]]
        (c0, x0), (c1, x1) = terms  # every row of B^T has two terms
        (np.add if c0 == c1 else np.subtract)(x0, x1, out=out[a])
        if c0 < 0:
            np.negative(out[a], out=out[a])


def winograd_forward(X, W, b, clock):
    """Z = conv2d(X, W) + b with stride 1 and padding 1, in F(2x2, 3x3) tiles.

    ``clock`` is a dict that collects the seconds spent in each part.
    """
    n, H, Wd, C = X.shape
    Co = W.shape[3]
    Tr, Tc = -(-H // 2), -(-Wd // 2)  # tiles down and across
    nb = IMAGES_PER_BLOCK
    T = nb * Tr * Tc
    U = np.einsum("ik,klco,jl->ijco", G, W, G).astype(X.dtype).reshape(16, C, Co)
    Xp = np.zeros((n, 2 * Tr + 2, 2 * Tc + 2, C), X.dtype)
    Xp[:, 1:H + 1, 1:Wd + 1] = X
    Z = np.empty((n, H, Wd, Co), X.dtype)
    R = np.empty((4, nb, Tr, 2 * Tc + 2, C), X.dtype)
    V = np.empty((16, T, C), X.dtype)
    M = np.empty((16, T, Co), X.dtype)
    Q = np.empty((2, 4, T, Co), X.dtype)
    Y = np.empty((2, 2, T, Co), X.dtype)
    mark = time.perf_counter()

    def lap(part):
        nonlocal mark
        now = time.perf_counter()
        clock[part] = clock.get(part, 0.0) + now - mark
        mark = now

    for start in range(0, n, nb):
        x = Xp[start:start + nb]
        transform_rows(R, [x[:, i:i + 2 * Tr:2] for i in range(4)], B_T)
        Vt = V.reshape(4, 4, nb, Tr, Tc, C)
        for a in range(4):
            transform_rows(Vt[a], [R[a][:, :, j:j + 2 * Tc:2] for j in range(4)], B_T)
        lap("input transform")
        np.matmul(V, U, out=M)
        lap("16 products")
        Mt = M.reshape(4, 4, T, Co)
        # Y = A^T M A with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]: first along
        # the tile's rows (Q), then along its columns.
        np.add(Mt[0], Mt[1], out=Q[0])
        Q[0] += Mt[2]
        np.subtract(Mt[1], Mt[2], out=Q[1])
        Q[1] -= Mt[3]
        for a in range(2):
            np.add(Q[a, 0], Q[a, 1], out=Y[a, 0])
            Y[a, 0] += Q[a, 2]
            np.subtract(Q[a, 1], Q[a, 2], out=Y[a, 1])
            Y[a, 1] -= Q[a, 3]
        Y += b
        lap("output transform")
        tiles = Y.reshape(2, 2, nb, Tr, Tc, Co)
        for a in range(2):
            for c in range(2):
                Z[start:start + nb, a::2, c::2] = \
                    tiles[a, c, :, :(H - a + 1) // 2, :(Wd - c + 1) // 2]
        lap("write output")
    return Z


def best(fn, rounds=5):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    keep_freed_memory()
    dtype = np.dtype(args.dtype).type
    rng = np.random.default_rng(0)
    print(f"CPU: {cpu_name()}; numpy {np.__version__}; one thread, BLAS on one thread; "
          f"{args.dtype}, batch {BATCH}, best of 5, ms")
    print("| layer | im2col (library) | Winograd | Winograd / im2col | "
          "input transform | 16 products | output transform | write output |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for size, c_in, c_out in SHAPES:
        print(probe(size, c_in, c_out, dtype, rng))


def probe(size, c_in, c_out, dtype, rng):
    """One row of the table: both forward passes on one layer's shapes."""
    X = rng.standard_normal((BATCH, size, size, c_in)).astype(dtype)
    W = (rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in)).astype(dtype)
    b = rng.standard_normal((1, c_out)).astype(dtype)
    workspace = {}
    with threadpool_limits(1, "blas"):
        expected, _ = F.conv2d_forward(X, W, b, 1, (1, 1), workspace)
        got = winograd_forward(X, W, b, {})
        error = np.max(np.abs(got - expected)) / np.max(np.abs(expected))
        tol = 1e-5 if dtype == np.float32 else 1e-12
        if error > tol:
            raise AssertionError(f"Winograd disagrees with the library: {error:.3g}")
        im2col = best(lambda: F.conv2d_forward(X, W, b, 1, (1, 1), workspace))
        winograd = best(lambda: winograd_forward(X, W, b, {}))
        clock = {}
        winograd_forward(X, W, b, clock)
    parts = " | ".join(f"{clock[part] * 1e3:.1f}" for part in clock)
    return (f"| {size}x{size}x{c_in}->{c_out} | {im2col * 1e3:.1f} | {winograd * 1e3:.1f} | "
            f"{winograd / im2col:.2f} | {parts} |")


if __name__ == "__main__":
    main()
