"""How far numpy's matrix products alone are from PyTorch's whole layer.

    python benchmarks/gemm_floor.py [--dtype float32|float64] [--write] [--quick]

Every convolution here is an im2col convolution: its forward pass and its two
gradients are three matrix products (see ``conv_flops`` in bench_layers.py),
and the rest of its work (im2col copies, col2im adds, the bias) only adds
time. So the time numpy's BLAS takes for those three products alone, with no
copying at all, is a floor under any im2col convolution written in numpy. The
same holds for a fully connected layer's three products.

For each conv layer of the Fashion-MNIST CNN recipe (shapes read from the
network ``train_fashion_mnist.py --model cnn`` builds), each conv workload of
bench_layers.py and its fully connected workload, this script times, side by
side in alternating blocks as bench_layers.py does:

- PyTorch: the whole layer, forward + backward (input gradient included);
- GEMMs:   numpy's three products per layer (for the FC workload: the six
           of its two layers), done two ways: as whole products on BLAS's
           own threads, and (conv only) split into the blocks of images the
           library uses, on a thread each inside a ``parallel.session()``;
- ours:    the library's whole layer, run as bench_layers.py runs it.

"GEMMs / PyTorch" takes the faster of the two ways. Where it is above 1,
numpy's products alone take longer than
PyTorch's whole layer: no im2col convolution (or FC layer) in numpy can
reach PyTorch there on this machine, however little else it does. The table
is printed; with ``--write`` (not with ``--quick``) it also goes into
BENCHMARKS.md as its "floor-<dtype>" section.
"""

import argparse
import contextlib

import numpy as np

import bench_layers as bench
from neural_networks import functional as F
from neural_networks import parallel
from neural_networks.image_runs import RECIPES, build_model
from neural_networks.layers import Conv2D
from neural_networks.utils.memory import keep_freed_memory


def recipe_conv_workloads():
    """(name, settings) of every conv layer of the Fashion-MNIST CNN recipe."""
    recipe = RECIPES[("fashion_mnist", "cnn")]
    model = build_model(recipe, recipe.optimizer.lr, recipe.epochs, seed=0)
    model.build(n_out=10)
    X = np.zeros((2, 28, 28, 1), dtype=np.float32)
    workloads = []
    for index, layer in enumerate(model.layers):
        if isinstance(layer, Conv2D):
            _, size, _, c_in = X.shape
            kernel, stride, pad = layer.kernel_shape[0], layer.stride, layer.pads[0]
            workloads.append((
                f"recipe layer {index}: conv {size}x{size}x{c_in}->{layer.n_out} "
                f"k{kernel} s{stride}",
                dict(size=size, c_in=c_in, c_out=layer.n_out, kernel=kernel, stride=stride,
                     pad=pad)))
        X = layer.forward(X)
    return workloads


def conv_products(s, dtype, rng):
    """Two functions doing the three products of an im2col conv of workload ``s``:
    as three whole products, and as the library splits them (blocks of images,
    on a thread each inside a ``parallel.session()``)."""
    o = bench.out_size(s["size"], s["kernel"], s["stride"], bench.pad_amount(s["pad"], s["kernel"]))
    per_image, K = o * o, s["kernel"] ** 2 * s["c_in"]
    positions = bench.BATCH * per_image
    cols = rng.standard_normal((positions, K)).astype(dtype)
    W = rng.standard_normal((K, s["c_out"])).astype(dtype)
    dZ = rng.standard_normal((positions, s["c_out"])).astype(dtype)
    Z, dcols = np.empty_like(dZ), np.empty_like(cols)
    _, blocks = F.blocking.image_blocks(bench.BATCH, K * per_image * cols.itemsize)
    dW = np.empty((len(blocks), K, s["c_out"]), dtype)

    def whole():
        np.matmul(cols, W, out=Z)
        np.matmul(cols.T, dZ, out=dW[0])
        np.matmul(dZ, W.T, out=dcols)

    def block(k, slot):
        rows = slice(blocks[k][0] * per_image, blocks[k][1] * per_image)
        np.matmul(cols[rows], W, out=Z[rows])
        np.matmul(cols[rows].T, dZ[rows], out=dW[k])
        np.matmul(dZ[rows], W.T, out=dcols[rows])

    return whole, lambda: parallel.for_each(block, len(blocks))


def fc_products(s, dtype, rng):
    """A function doing the six products of the FC workload's two layers."""
    X = rng.standard_normal((bench.BATCH, s["n_in"])).astype(dtype)
    W1 = rng.standard_normal((s["n_in"], s["hidden"])).astype(dtype)
    W2 = rng.standard_normal((s["hidden"], s["n_out"])).astype(dtype)
    H = np.empty((bench.BATCH, s["hidden"]), dtype)
    out = np.empty((bench.BATCH, s["n_out"]), dtype)
    dW1, dW2, dX = np.empty_like(W1), np.empty_like(W2), np.empty_like(X)

    def products():
        np.matmul(X, W1, out=H)
        np.matmul(H, W2, out=out)
        np.matmul(H.T, out, out=dW2)
        np.matmul(out, W2.T, out=H)
        np.matmul(X.T, H, out=dW1)
        np.matmul(H, W1.T, out=dX)

    return products, None


HEADER = ("| workload | ms PyTorch (whole layer) | ms numpy GEMMs alone: whole products "
          "| in the library's blocks | ms ours (whole layer) | GEMMs / PyTorch "
          "| ours / PyTorch |")
RULE = "|---|---:|---:|---:|---:|---:|---:|"


def format_row(row):
    blocked = f"{row['blocked'] * 1e3:.2f}" if row["blocked"] else "-"
    floor = min(t for t in (row["gemms"], row["blocked"]) if t)
    return (f"| {row['name']} | {row['torch'] * 1e3:.2f} | {row['gemms'] * 1e3:.2f} | "
            f"{blocked} | {row['ours'] * 1e3:.2f} | {floor / row['torch']:.2f} | "
            f"{row['ours'] / row['torch']:.2f} |")


def run(dtype_name, quick):
    import torch

    torch.set_num_threads(bench.blas_threads())
    dtype = np.dtype(dtype_name).type
    rng = np.random.default_rng(0)
    workloads = [(name, "conv", s) for name, s in recipe_conv_workloads()]
    workloads += [w for w in bench.WORKLOADS if w[1] in ("conv", "fc")]
    rows = []
    for name, kind, s in workloads:
        ours, torch_fn, _, check = bench.BUILDERS[kind](s, dtype, torch, rng)
        check()
        whole, blocked = (conv_products if kind == "conv" else fc_products)(s, dtype, rng)
        session = contextlib.nullcontext if kind == "fc" else parallel.session
        fns = [ours, torch_fn, whole] + ([blocked] if blocked else [])
        contexts = [session, contextlib.nullcontext, contextlib.nullcontext, parallel.session]
        times, _ = bench.time_side_by_side(
            fns, min_rounds=3 if quick else 5, min_seconds=1 if quick else 3,
            contexts=contexts[:len(fns)])
        row = dict(name=name, ours=times[0], torch=times[1], gemms=times[2],
                   blocked=times[3] if blocked else None)
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def section(dtype_name, rows, facts):
    lines = [f"<!-- floor-{dtype_name} start -->",
             "## Matrix products alone against PyTorch's whole layer "
             f"({dtype_name})", "",
             f"`python benchmarks/gemm_floor.py --dtype {dtype_name} --write` (see its "
             "docstring). "
             "\"GEMMs\" is the time of numpy's matrix products of the layer and nothing "
             "else: a floor under any im2col convolution (or FC layer) in numpy. "
             "\"GEMMs / PyTorch\" takes the faster of the two ways of running them; above "
             "1.0 that floor is slower than PyTorch's whole layer.", ""]
    lines += facts + ["", HEADER, RULE] + [format_row(row) for row in rows]
    lines += [f"<!-- floor-{dtype_name} end -->", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bench.add_write_option(parser)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (not with --write)")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write puts a full run into BENCHMARKS.md: leave out --quick")
    import torch

    torch.set_num_threads(bench.blas_threads())
    keep_freed_memory()  # both sides, as the training scripts run
    facts = bench.machine_facts(torch)
    print("\n".join(facts))
    print(HEADER)
    print(RULE)
    others = bench.OtherProcesses()
    others.start()
    rows = run(args.dtype, args.quick)
    facts.append(others.fact())
    text = section(args.dtype, rows, facts)
    print("\n" + text)
    bench.report(f"floor-{args.dtype}", text, args.write)


if __name__ == "__main__":
    main()
