"""Time forward+backward of the layer kernels against a naive loop and PyTorch.

    python benchmarks/bench_layers.py [--dtype float32|float64] [--write] [--quick] [--only NAME ...]

For every workload (batch 128, NHWC for us, NCHW for PyTorch) it times one
forward pass plus one backward pass (input gradient included) of:

- ours:    the ``neural_networks`` layers, run as a network of them runs
           them (``NeuralNetwork.session``): conv and pooling in a
           ``parallel.session()`` (numpy's BLAS on one thread, blocks of the batch
           on a thread per core), the fully connected workload without one;
- naive:   ``benchmarks/naive.py``, one Python iteration per output number,
           run on a reduced batch and scaled linearly to batch 128 (its time
           is proportional to the batch, since it loops over the examples);
- PyTorch: ``torch.nn.functional`` on the CPU with as many threads as
           numpy's BLAS (read with threadpoolctl) and the same dtype.

Ours and PyTorch take turns in blocks (so load from other processes hits
both alike), each block after a pause and an untimed call; each timing is
the median of at least 6 calls. Layout transposes and data creation happen outside the
timed region. The table is printed; with ``--write`` it also goes into
``BENCHMARKS.md`` as the section of that dtype (the other sections are kept).
A run with ``--quick`` or ``--only`` cannot be written.
"""

import argparse
import contextlib
import datetime
import os
import platform
import re
import resource
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info

import naive
from neural_networks import parallel
from neural_networks.layers import Conv2D, FullyConnected, Pool2D
from neural_networks.losses import CrossEntropy
from neural_networks.utils.memory import keep_freed_memory

BATCH = 128
NAIVE_BATCH = 2
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_FILE = os.path.join(REPO, "BENCHMARKS.md")

# name, kind, settings
WORKLOADS = [
    ("conv 32x32x32->64 k3 s1 same", "conv",
     dict(size=32, c_in=32, c_out=64, kernel=3, stride=1, pad="same")),
    ("conv 28x28x1->32 k3 s1 same", "conv",
     dict(size=28, c_in=1, c_out=32, kernel=3, stride=1, pad="same")),
    ("conv 16x16x64->128 k3 s2 same", "conv",
     dict(size=16, c_in=64, c_out=128, kernel=3, stride=2, pad="same")),
    ("conv 32x32x3->32 k5 s1 valid", "conv",
     dict(size=32, c_in=3, c_out=32, kernel=5, stride=1, pad="valid")),
    ("max pool 2x2 s2 on 32x32x64", "pool",
     dict(size=32, channels=64, kernel=2, stride=2, pad=0, mode="max")),
    ("avg pool 3x3 s1 same on 16x16x64", "pool",
     dict(size=16, channels=64, kernel=3, stride=1, pad="same", mode="average")),
    ("FC 784->256 relu, 256->10 softmax, CE", "fc", dict(n_in=784, hidden=256, n_out=10)),
]

# The targets: the most ours/PyTorch may take, by workload kind
TARGETS = {"conv": 1.0, "pool": 1.0, "fc": 1.0}
NAIVE_TARGET = (WORKLOADS[0][0], 100.0)


def blas_threads():
    """Threads of numpy's BLAS, as threadpoolctl reports them."""
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    return blas[0]["num_threads"] if blas else 1


#: /proc/cpuinfo flag of each vector instruction set, widest first.
SIMD_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"))


def cpu_name():
    """The CPU's model name and its widest vector instructions, from /proc/cpuinfo."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return cpu
    names = re.findall(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.findall(r"^flags\s*:\s*(.+)$", text, re.M)
    if names:
        cpu = names[0].strip()
    have = set(flags[0].split()) if flags else set()
    simd = next((name for flag, name in SIMD_FLAGS if flag in have), None)
    return f"{cpu} ({simd})" if simd else cpu


def machine_facts(torch):
    """A few lines describing the machine and the libraries."""
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    blas_text = ", ".join(
        f"{lib['internal_api']} {lib.get('version')} ({lib.get('architecture')}), "
        f"{lib['num_threads']} threads" for lib in blas
    ) or "none found"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores",
        f"- load average before the run (1, 5, 15 min; it includes earlier runs): {load}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()})",
        f"- BLAS (threadpoolctl): {blas_text}",
    ]


class OtherProcesses:
    """CPU time that other processes take while this one runs (Linux /proc/stat).

    ``start()`` before the timings, ``fact()`` after: a line giving the cores
    the rest of the machine kept busy on average (0 on a quiet machine).
    """

    def start(self):
        self._begin = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return None
        # user nice system idle iowait irq softirq steal: busy = all but idle and iowait
        busy = sum(fields[:8]) - fields[3] - fields[4]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (time.monotonic(), busy / os.sysconf("SC_CLK_TCK"),
                usage.ru_utime + usage.ru_stime)

    def fact(self):
        end = self._sample()
        if self._begin is None or end is None:
            return "- CPU used by other processes during the run: unknown (no /proc/stat)"
        wall = end[0] - self._begin[0]
        other = max(0.0, (end[1] - self._begin[1]) - (end[2] - self._begin[2])) / wall
        note = " (timings are noisy)" if other > 0.2 else ""
        return (f"- CPU used by other processes during the run: {other:.2f} of "
                f"{os.cpu_count()} cores on average{note}")


def pad_amount(pad, kernel):
    if pad == "same":
        return (kernel - 1) // 2
    if pad == "valid":
        return 0
    return pad


def out_size(size, kernel, stride, pad):
    return 1 + (size + 2 * pad - kernel) // stride


def conv_flops(s):
    """Floating-point operations of one forward + backward pass of a conv workload.

    Three matrix products of positions x K x c_out multiply-adds each (the
    forward product, the input gradient dX and the weight gradient dW), with
    positions = batch * out_rows * out_cols and K = kernel * kernel * c_in; a
    multiply-add counts as 2 operations. im2col, col2im and the bias are not counted.
    """
    o = out_size(s["size"], s["kernel"], s["stride"], pad_amount(s["pad"], s["kernel"]))
    return 2 * 3 * BATCH * o * o * s["kernel"] ** 2 * s["c_in"] * s["c_out"]


#: Side of the square matrices whose product gives numpy's GEMM peak.
PEAK_SIZE = 2048
PEAK_ROUNDS = 7


def gemm_peak(dtype):
    """numpy's GEMM rate in GFLOP/s: the best of PEAK_ROUNDS products ``A @ B`` of
    two PEAK_SIZE x PEAK_SIZE matrices of ``dtype`` (after a pause and one untimed)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype)
    B = rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype)
    time.sleep(0.3)
    A @ B
    best = min(once(lambda: A @ B) for _ in range(PEAK_ROUNDS))
    return 2 * PEAK_SIZE ** 3 / best / 1e9


def assert_close(actual, desired, tol):
    """max |actual - desired| <= tol * max |desired| (sums of many terms differ by rounding)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    error = float(np.max(np.abs(actual - desired)))
    scale = float(np.max(np.abs(desired)))
    assert error <= tol * scale, f"max error {error:.3g} > {tol:g} * {scale:.3g}"


# --------------------------------------------------------------------- workloads
# Each builder returns (ours, torch_fn, naive_fn): functions of no argument
# that run forward+backward once. naive_fn runs on NAIVE_BATCH examples.

def build_conv(s, dtype, torch, rng):
    F = torch.nn.functional
    p = pad_amount(s["pad"], s["kernel"])
    o = out_size(s["size"], s["kernel"], s["stride"], p)
    X = rng.standard_normal((BATCH, s["size"], s["size"], s["c_in"])).astype(dtype)
    dY = rng.standard_normal((BATCH, o, o, s["c_out"])).astype(dtype)

    layer = Conv2D(s["c_out"], s["kernel"], "linear", stride=s["stride"], pad=s["pad"])
    layer.forward(X)
    W, b = layer.parameters["W"], layer.parameters["b"]

    def ours():
        layer.forward(X)
        layer.backward(dY)

    x_t = torch.from_numpy(X.transpose(0, 3, 1, 2).copy()).requires_grad_()
    w_t = torch.from_numpy(W.transpose(3, 2, 0, 1).copy()).requires_grad_()
    b_t = torch.from_numpy(b.reshape(-1).copy()).requires_grad_()
    dY_t = torch.from_numpy(dY.transpose(0, 3, 1, 2).copy())

    def torch_fn():
        x_t.grad = w_t.grad = b_t.grad = None
        F.conv2d(x_t, w_t, b_t, stride=s["stride"], padding=p).backward(dY_t)

    Xn, dYn = X[:NAIVE_BATCH], dY[:NAIVE_BATCH]

    def naive_fn():
        naive.conv2d_forward(Xn, W, b, s["stride"], (p, p))
        naive.conv2d_backward(dYn, Xn, W, s["stride"], (p, p))

    def check():
        """The three implementations agree on the reduced batch."""
        Z = layer.forward(Xn)
        dX = layer.backward(dYn)
        Zn = naive.conv2d_forward(Xn, W, b, s["stride"], (p, p))
        dXn, dWn, _ = naive.conv2d_backward(dYn, Xn, W, s["stride"], (p, p))
        tol = 1e-4 if dtype == np.float32 else 1e-12
        assert_close(Z, Zn, tol)
        assert_close(dX, dXn, tol)
        assert_close(layer.gradients["W"], dWn, tol)
        torch_fn()
        layer.forward(X)
        dX = layer.backward(dY)
        assert_close(
            x_t.grad.numpy().transpose(0, 2, 3, 1), dX, tol)
        assert_close(
            w_t.grad.numpy().transpose(2, 3, 1, 0), layer.gradients["W"], tol)

    return ours, torch_fn, naive_fn, check


def build_pool(s, dtype, torch, rng):
    F = torch.nn.functional
    p = pad_amount(s["pad"], s["kernel"])
    o = out_size(s["size"], s["kernel"], s["stride"], p)
    X = rng.standard_normal((BATCH, s["size"], s["size"], s["channels"])).astype(dtype)
    dY = rng.standard_normal((BATCH, o, o, s["channels"])).astype(dtype)
    layer = Pool2D(s["kernel"], mode=s["mode"], stride=s["stride"], pad=s["pad"])

    def ours():
        layer.forward(X)
        layer.backward(dY)

    x_t = torch.from_numpy(X.transpose(0, 3, 1, 2).copy()).requires_grad_()
    dY_t = torch.from_numpy(dY.transpose(0, 3, 1, 2).copy())
    if s["mode"] == "max":
        def torch_pool(x):
            return F.max_pool2d(x, s["kernel"], s["stride"], p)
    else:
        def torch_pool(x):
            return F.avg_pool2d(x, s["kernel"], s["stride"], p, count_include_pad=True)

    def torch_fn():
        x_t.grad = None
        torch_pool(x_t).backward(dY_t)

    Xn, dYn = X[:NAIVE_BATCH], dY[:NAIVE_BATCH]
    k = (s["kernel"], s["kernel"])

    def naive_fn():
        naive.pool2d_forward(Xn, k, s["stride"], (p, p), s["mode"])
        naive.pool2d_backward(dYn, Xn, k, s["stride"], (p, p), s["mode"])

    def check():
        tol = 1e-4 if dtype == np.float32 else 1e-12
        Z = layer.forward(Xn)
        dX = layer.backward(dYn)
        assert_close(
            Z, naive.pool2d_forward(Xn, k, s["stride"], (p, p), s["mode"]), tol)
        assert_close(
            dX, naive.pool2d_backward(dYn, Xn, k, s["stride"], (p, p), s["mode"]), tol)
        torch_fn()
        layer.forward(X)
        assert_close(layer.backward(dY), x_t.grad.numpy().transpose(0, 2, 3, 1), tol)

    return ours, torch_fn, naive_fn, check


def build_fc(s, dtype, torch, rng):
    F = torch.nn.functional
    X = rng.standard_normal((BATCH, s["n_in"])).astype(dtype)
    labels = rng.integers(0, s["n_out"], BATCH)
    Y = np.eye(s["n_out"], dtype=dtype)[labels]
    fc1 = FullyConnected(s["hidden"], "relu")
    fc2 = FullyConnected(s["n_out"], "softmax")
    loss = CrossEntropy("cross_entropy")
    fc2.forward(fc1.forward(X))

    def ours():
        Y_hat = fc2.forward(fc1.forward(X))
        loss.forward(Y, Y_hat)
        fc1.backward(fc2.backward(loss.backward(Y, Y_hat)))

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_()

    x_t = t(X)
    W1, b1 = t(fc1.parameters["W"].T), t(fc1.parameters["b"].reshape(-1))
    W2, b2 = t(fc2.parameters["W"].T), t(fc2.parameters["b"].reshape(-1))
    labels_t = torch.from_numpy(labels)

    def torch_fn():
        for a in (x_t, W1, b1, W2, b2):
            a.grad = None
        logits = F.linear(F.relu(F.linear(x_t, W1, b1)), W2, b2)
        F.cross_entropy(logits, labels_t).backward()

    def check():
        tol = 1e-4 if dtype == np.float32 else 1e-12
        Y_hat = fc2.forward(fc1.forward(X))
        dX = fc1.backward(fc2.backward(loss.backward(Y, Y_hat)))
        torch_fn()
        assert_close(dX, x_t.grad.numpy(), tol)
        assert_close(fc1.gradients["W"], W1.grad.numpy().T, tol)

    return ours, torch_fn, None, check


BUILDERS = {"conv": build_conv, "pool": build_pool, "fc": build_fc}


# ------------------------------------------------------------------------ timing

def once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_side_by_side(fns, min_rounds, min_seconds, blocks=2, contexts=None):
    """Median seconds per call of each function, in alternating blocks.

    The functions take turns, ``blocks`` times each, so that load from other
    processes hits them alike. A block starts after a short pause and one
    untimed call: numpy's BLAS and PyTorch keep their worker threads
    spinning for a while after a call, and those must not eat into the
    other library's time. ``contexts`` (one per function, or None) gives a
    function a context manager held over each of its blocks.
    """
    contexts = contexts or [contextlib.nullcontext] * len(fns)
    warm = []
    for fn, context in zip(fns, contexts, strict=True):
        with context():
            warm.append(once(fn))
    rounds = max(min_rounds, min(200, int(min_seconds / max(sum(warm), 1e-9))))
    per_block = -(-rounds // blocks)
    samples = [[] for _ in fns]
    for _ in range(blocks):
        for fn, context, times in zip(fns, contexts, samples, strict=True):
            time.sleep(0.3)
            with context():
                fn()
                times.extend(once(fn) for _ in range(per_block))
    return [statistics.median(times) for times in samples], per_block * blocks


def run(dtype_name, quick, only):
    """Time the workloads; each row is printed as it comes, without ``peak``
    (numpy's GEMM rate, known after the run)."""
    import torch

    dtype = np.dtype(dtype_name).type
    torch.set_num_threads(blas_threads())
    rng = np.random.default_rng(0)
    rows = []
    for name, kind, settings in WORKLOADS:
        if only and not any(word in name for word in only):
            continue
        ours, torch_fn, naive_fn, check = BUILDERS[kind](settings, dtype, torch, rng)
        check()
        # Ours runs as a network of such layers runs it (NeuralNetwork.session): conv
        # and pooling in a parallel session, fully connected layers without one.
        session = contextlib.nullcontext if kind == "fc" else parallel.session
        (t_ours, t_torch), rounds = time_side_by_side(
            [ours, torch_fn], min_rounds=3 if quick else 5, min_seconds=1 if quick else 3,
            contexts=[session, contextlib.nullcontext])
        t_naive = None
        if naive_fn is not None and not quick:
            t_naive = statistics.median(
                [once(naive_fn) for _ in range(6)][1:]) * BATCH / NAIVE_BATCH
        flops = conv_flops(settings) if kind == "conv" else None
        row = dict(name=name, kind=kind, ours=t_ours, torch=t_torch, naive=t_naive,
                   rounds=rounds, flops=flops, peak=None)
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


# ------------------------------------------------------------------------ report

HEADER = ("| workload | ms ours | ms naive | ms PyTorch | ours/PyTorch | naive/ours | "
          "GFLOP/s ours | ours/GEMM peak | target ours/PyTorch |")
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---|"


def verdict(row):
    limit = TARGETS[row["kind"]]
    ratio = row["ours"] / row["torch"]
    return f"<= {limit}: {'met' if ratio <= limit else 'MISSED'}"


def format_row(row):
    naive_ms = f"{row['naive'] * 1e3:.0f}" if row["naive"] else "-"
    speedup = f"{row['naive'] / row['ours']:.0f}" if row["naive"] else "-"
    rate = row["flops"] / row["ours"] / 1e9 if row["flops"] else None
    rate_text = f"{rate:.0f}" if rate else "-"
    fraction = f"{rate / row['peak']:.2f}" if rate and row["peak"] else "-"
    return (f"| {row['name']} | {row['ours'] * 1e3:.2f} | {naive_ms} | "
            f"{row['torch'] * 1e3:.2f} | {row['ours'] / row['torch']:.2f} | {speedup} | "
            f"{rate_text} | {fraction} | {verdict(row)} |")


def section(dtype_name, rows, facts):
    lines = [f"<!-- {dtype_name} start -->", f"### {dtype_name}", ""]
    lines += facts + [""]
    lines += [HEADER, RULE] + [format_row(row) for row in rows] + [""]
    first = [row for row in rows if row["name"] == NAIVE_TARGET[0] and row["naive"]]
    if first:
        ratio = first[0]["naive"] / first[0]["ours"]
        lines.append(f"naive/ours on the first conv workload: {ratio:.0f} "
                     f"(target >= {NAIVE_TARGET[1]:.0f}: "
                     f"{'met' if ratio >= NAIVE_TARGET[1] else 'MISSED'}).")
    missed = [row["name"] for row in rows if "MISSED" in verdict(row)]
    lines.append("All ours/PyTorch targets met." if not missed
                 else "ours/PyTorch targets missed: " + "; ".join(missed) + ".")
    lines += [f"<!-- {dtype_name} end -->", ""]
    return "\n".join(lines)


INTRO = """# Benchmarks

Three scripts write this file when run with `--write`, each replacing only
its own section: the layer kernels below, one training epoch of the
Fashion-MNIST CNN (`python benchmarks/bench_training.py`, described in its
section) and numpy's matrix products alone (`python benchmarks/gemm_floor.py`).
Without `--write` they print their table and leave this file alone.

## Layers

Written by `python benchmarks/bench_layers.py --dtype float32|float64 --write`; each
run replaces only the section of its dtype. Every number is the median wall time
of one forward plus one backward pass (input gradient included), batch 128:

- **ours**: the `neural_networks` layers on NHWC arrays (conv layers with a
  linear activation, so the kernel itself is timed);
- **naive**: `benchmarks/naive.py`, one Python iteration per output number
  (per example, row, column and channel), the loop students write first. It
  runs on a batch of {naive_batch} and its time is scaled linearly to 128;
- **PyTorch**: `torch.nn.functional` on the CPU on NCHW tensors, with
  `torch.set_num_threads` set to numpy's BLAS thread count, same dtype; the FC
  row uses `F.cross_entropy` on the logits.

The two GFLOP/s columns (conv rows only) count the floating-point operations
of the three matrix products of a convolution's forward and backward pass:
the forward product and the two backward ones, for the input gradient dX and
for the weight gradient dW, each of positions x K x c_out multiply-adds
(positions = 128 x output rows x output columns, K = kernel rows x kernel
columns x input channels; a multiply-add is 2 operations). **GFLOP/s ours**
is that count over the ours time, and **ours/GEMM peak** divides it by numpy's
own GEMM rate in the same run: the best of {peak_rounds} products `A @ B` of two
{peak_size}x{peak_size} matrices of the section's dtype, measured before the
workloads and again after them, the higher of the two taken (the section
gives both: on this virtual machine the rate drifts by ten percent or more).
The rest of a conv layer's work (the im2col and col2im copies, the bias) is
in the time but not in the count, so the fraction is the share of the time
that the three products would take at the peak rate.

Ours and PyTorch take turns in two blocks each; a block starts after a
0.3 s pause (so neither library's spinning worker threads eat into the
other's time) and one untimed call. The median is over at least 6 calls
(more for short workloads). Layout
transposes happen outside the timed region. Before timing, the script checks
that ours, naive and PyTorch give the same outputs and gradients.

Each section says how much CPU other processes took during its run. With
other CPU-bound processes on the machine, both libraries' worker threads
lose time waiting for one another (OpenBLAS yields the core at every synchronisation), and the
ratios move by tens of percent: the numbers that count come from a quiet
machine.

Targets: ours/PyTorch <= 1.0 on every row (conv, pooling, FC + softmax +
cross-entropy), naive/ours >= 100 on the first conv workload.
"""


#: The sections of BENCHMARKS.md, in order: the layer runs of both dtypes
#: (this script), the training epoch (bench_training.py) and the matrix
#: products alone in both dtypes (gemm_floor.py).
SECTIONS = ("float32", "float64", "training", "floor-float32", "floor-float64")


def write_markdown(name, text):
    """Put ``text`` into BENCHMARKS.md as section ``name``, keeping the others."""
    old = ""
    if os.path.exists(BENCH_FILE):
        with open(BENCH_FILE) as f:
            old = f.read()
    sections = {}
    for other in SECTIONS:
        match = re.search(rf"<!-- {other} start -->.*?<!-- {other} end -->\n?", old, re.S)
        if match:
            sections[other] = match.group(0)
    sections[name] = text
    body = INTRO.format(naive_batch=NAIVE_BATCH, peak_rounds=PEAK_ROUNDS,
                        peak_size=PEAK_SIZE) + "\n" + "\n".join(
        sections[other] for other in SECTIONS if other in sections)
    with open(BENCH_FILE, "w") as f:
        f.write(body)


def add_write_option(parser):
    """``--write``, the same in every script that has a section in BENCHMARKS.md."""
    parser.add_argument("--write", action="store_true",
                        help="also put the table into BENCHMARKS.md as this run's section "
                             "(without it the tracked file is left as it is)")


def report(name, text, write):
    """Put ``text`` into BENCHMARKS.md as section ``name`` if ``write``; say which."""
    if write:
        write_markdown(name, text)
        print(f"wrote the {name} section of {BENCH_FILE}")
    else:
        print(f"BENCHMARKS.md left as it was (a full run with --write puts this {name} "
              "section in)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    add_write_option(parser)
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, no naive timing (not with --write)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only workloads whose name contains one of these words "
                             "(not with --write)")
    args = parser.parse_args(argv)
    if args.write and (args.quick or args.only):
        parser.error("--write puts a full run into BENCHMARKS.md: leave out --quick and --only")
    import torch

    torch.set_num_threads(blas_threads())
    keep_freed_memory()  # both sides, as the training scripts run
    facts = machine_facts(torch)
    facts.append("- both sides: `keep_freed_memory()` (glibc keeps freed memory, as in the "
                 "training scripts)")
    print("\n".join(facts))
    print(HEADER)
    print(RULE)
    others = OtherProcesses()
    others.start()
    dtype = np.dtype(args.dtype).type
    before = gemm_peak(dtype)
    rows = run(args.dtype, args.quick, args.only)
    after = gemm_peak(dtype)
    for row in rows:
        row["peak"] = max(before, after)
    facts.append(f"- numpy GEMM peak: {max(before, after):.0f} GFLOP/s, the higher of "
                 f"{before:.0f} (before the workloads) and {after:.0f} (after), each the best "
                 f"of {PEAK_ROUNDS} {args.dtype} `A @ B` of two {PEAK_SIZE}x{PEAK_SIZE} matrices")
    facts.append(others.fact())
    text = section(args.dtype, rows, facts)
    print("\n" + text)
    report(args.dtype, text, args.write)


if __name__ == "__main__":
    main()
