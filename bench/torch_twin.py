#!/usr/bin/python3
"""PyTorch twin of a leash run, for bench/torch_compare and bench/wide_cnn.

Trains the model leash trains for the same -A (--arch): a preset (MLP: -L 3 -U 128,
ReLU; CNN; LENET) or a layer list in leash's language (conv:C:K[:sS][:pP], maxpool:K,
avgpool:K, fc:N, fc last, relu, sigmoid, tanh), with softmax + mean cross-entropy and
plain SGD, on (Fashion-)MNIST the way leash does, and prints one JSON object whose
`final` fields mean what they mean in leash's document (doc/output.md).

Identical to leash, not merely alike: the weights and the epochs' sample order come from
a port of leash's generator (src/core/rng.c) seeded as leash seeds it, so a `single` run
with one thread follows `leash -a SEQ` with the same seed step for step, up to float
rounding. The tensors are leash's, laid out as torch wants them: leash's activations
are HWC and torch's NCHW, so conv weights [out][ky][kx][in] become [out][in][ky][kx],
and an fc layer after a spatial one flattens its input in leash's (y, x, channel)
order, so its weights are leash's as they are. Pooling is K x K with stride K, trailing
rows and columns dropped, as torch's default. Inputs stay uint8 and are standardized
per batch (leash's input map), epoch e is the first `rounds` windows of b samples of a
fresh shuffle, the training loss is the mean of the epoch's mini-batch losses, and time
counts training only (leash shuffles and evaluates outside it too). --losses adds each
mini-batch's loss (`single` only), to set against leash's `--trace-every 1` trace.

Modes: `single`, one process with --threads intra-op and OpenBLAS threads; `hogwild`,
--threads processes over one model in shared memory (model.share_memory()), one thread
each, claiming rounds from a shared counter as leash's workers do.
"""
import argparse
import ctypes
import gzip
import hashlib
import json
import math
import os
import struct
import sys
import time

M64 = (1 << 64) - 1


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("single", "hogwild"), default="single")
    p.add_argument("--arch", default="MLP", help="leash -A: a preset or a layer list")
    p.add_argument("--init", choices=("NORMAL", "HE", "GLOROT"), default="NORMAL",
                   help="leash --init")
    p.add_argument("--threads", type=int, default=1,
                   help="single: intra-op and OpenBLAS threads; hogwild: processes")
    p.add_argument("--step", type=float, default=0.5, help="SGD step (leash -l)")
    p.add_argument("--batch", type=int, default=512, help="mini-batch size (leash -b)")
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs (leash -e)")
    p.add_argument("--rounds", type=int, default=0,
                   help="gradients per epoch, all workers together; 0 = one pass (leash -r)")
    p.add_argument("--target-loss", type=float, default=0.0,
                   help="stop after the first epoch whose training loss is <= this")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seed", type=int, default=1, help="leash --seed")
    p.add_argument("--losses", action="store_true",
                   help="single: list each mini-batch's loss in its epoch's entry")
    p.add_argument("--cache-dir",
                   help="keep the initial parameters here (the port of leash's generator "
                        "takes seconds for a million weights)")
    a = p.parse_args()
    if a.threads < 1 or a.batch < 1 or a.epochs < 1 or a.rounds < 0 or a.step <= 0:
        p.error("--threads, --batch, --epochs and --step must be positive, --rounds >= 0")
    try:
        a.layers = parse_layers(a.arch)
    except ValueError as e:
        p.error(f"--arch {a.arch}: {e}")
    return a


# leash's presets (src/nn/spec.c), as layer lists.
PRESETS = {
    "MLP": "fc:128,relu,fc:128,relu,fc:128,relu,fc",
    "CNN": "conv:4:3,relu,maxpool:2,conv:8:3,relu,maxpool:2,fc:128,relu,fc",
    "LENET": "conv:6:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,fc:120,relu,fc",
}


def parse_layers(arch):
    """arch (a preset or a layer list) as a list of (kind, params) with params a dict:
    conv {"out", "k", "stride", "pad"}, maxpool/avgpool {"k"}, fc {"out"} (None: one
    output per class), relu/sigmoid/tanh {}. Raises ValueError as leash rejects a list."""
    tokens = PRESETS.get(arch.upper(), arch).split(",")
    return [parse_token(pos, token, pos == len(tokens)) for pos, token in enumerate(tokens, 1)]


def parse_token(pos, token, last):
    """Layer pos of the list, token, as (kind, params); see parse_layers."""
    kind, *fields = token.lower().split(":")

    def number(f, low=1):
        if not f.isdigit() or int(f) < low:
            raise ValueError(f"layer {pos} '{token}': bad number '{f}'")
        return int(f)

    if kind == "conv" and len(fields) >= 2:
        p = {"out": number(fields[0]), "k": number(fields[1]), "stride": 1, "pad": 0}
        for f in fields[2:]:
            if f[:1] not in ("s", "p"):
                raise ValueError(f"layer {pos} '{token}': expected :sS or :pP")
            p["stride" if f[0] == "s" else "pad"] = number(f[1:], 1 if f[0] == "s" else 0)
        return kind, p
    if kind in ("maxpool", "avgpool") and len(fields) == 1:
        return kind, {"k": number(fields[0])}
    if kind == "fc" and len(fields) <= 1:
        if not fields and not last:
            raise ValueError(f"layer {pos} 'fc' without a size is the last layer only")
        return kind, {"out": number(fields[0]) if fields else None}
    if kind in ("relu", "sigmoid", "tanh") and not fields:
        return kind, {}
    raise ValueError(f"layer {pos} '{token}': unknown or malformed layer")


ARGS = parse_args()
# Thread counts must be in the environment before torch (and its OpenBLAS and OpenMP)
# load: OpenBLAS sizes its pool from OPENBLAS_NUM_THREADS, which torch.set_num_threads
# does not touch. PASSIVE keeps idle OpenMP threads from spinning on the shared cores.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads if ARGS.mode == "single" else 1)
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
try:
    import numpy as np
    import torch
    import torch.multiprocessing as mp
    import torch.nn.functional as F
except ImportError as e:
    print(f"torch_twin.py: {e}; install Debian's PyTorch with `apt-get install -y python3-torch`",
          file=sys.stderr)
    sys.exit(2)


class LeashRng:
    """leash's xoshiro256** seeded through splitmix64 (src/core/rng.c), bit for bit."""

    def __init__(self, seed):
        x, self.s = seed & M64, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s0, s1, s2, s3 = self.s
        r = (s1 * 5) & M64
        result = ((((r << 7) | (r >> 57)) & M64) * 9) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & M64
        self.s = [s0, s1, s2, s3]
        return result

    def below(self, bound):
        # Lemire's multiply-and-reject, as leash_rng_below.
        m = self.next() * bound
        if m & M64 < bound:
            threshold = ((1 << 64) - bound) % bound
            while m & M64 < threshold:
                m = self.next() * bound
        return m >> 64

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def normal(self):
        u = 1.0 - self.uniform()
        v = self.uniform()
        return math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * v)

    def shuffle(self, a):
        for i in range(len(a), 1, -1):
            j = self.below(i)
            a[i - 1], a[j] = a[j], a[i - 1]


def read_idx(path, dims):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    magic, *shape = struct.unpack(f">{dims + 1}I", raw[: 4 * (dims + 1)])
    if magic != 0x800 + dims:
        sys.exit(f"torch_twin.py: {path}: not an IDX file of {dims} dimensions")
    return np.frombuffer(raw, np.uint8, offset=4 * (dims + 1)).reshape(shape)


def load(data_dir, split):
    def path(name):
        plain = os.path.join(data_dir, name)
        return plain if os.path.exists(plain) else plain + ".gz"
    x = read_idx(path(f"{split}-images-idx3-ubyte"), 3)
    y = read_idx(path(f"{split}-labels-idx1-ubyte"), 1)
    return (torch.from_numpy(x.reshape(len(x), -1).copy()), torch.from_numpy(y.astype(np.int64)),
            (x.shape[1], x.shape[2], 1))


def standardization(pixels):
    """leash_input_map_standardize: exact sums, double mean and variance, float map."""
    flat = pixels.numpy().ravel()
    n = flat.size
    mean = int(flat.sum(dtype=np.uint64)) / n
    var = int((flat.astype(np.uint64) ** 2).sum(dtype=np.uint64)) / n - mean * mean
    inv_std = 1.0 / math.sqrt(var) if var > 1e-12 else 1.0 / 255.0
    return float(np.float32(inv_std)), float(np.float32(-mean * inv_std))


class HwcToNchw(torch.nn.Module):
    """Rows of H*W*C input values (leash's HWC samples) as torch's N x C x H x W."""

    def __init__(self, h, w, c):
        super().__init__()
        self.shape = (h, w, c)

    def forward(self, x):
        return x.view(-1, *self.shape).permute(0, 3, 1, 2)


class FlattenHwc(torch.nn.Module):
    """N x C x H x W maps flattened in leash's (y, x, channel) order."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


ACTIVATIONS = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}


def build_model(layers, h, w, c, classes):
    """The torch modules of leash's layer list for h x w x c inputs, and for each conv
    and fc module, in order, the leash layer's weight shape and fans (what leash's
    initialization reads)."""
    modules, weighted, spatial = [], [], False
    for kind, p in layers:
        if kind in ("conv", "maxpool", "avgpool") and not spatial:
            modules.append(HwcToNchw(h, w, c))
            spatial = True
        if kind == "conv":
            k, s, pad = p["k"], p["stride"], p["pad"]
            conv = torch.nn.Conv2d(c, p["out"], k, stride=s, padding=pad)
            weighted.append((conv, (p["out"], k, k, c), k * k * c, k * k * p["out"]))
            modules.append(conv)
            h, w, c = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1, p["out"]
        elif kind in ("maxpool", "avgpool"):
            pool = torch.nn.MaxPool2d if kind == "maxpool" else torch.nn.AvgPool2d
            modules.append(pool(p["k"]))
            h, w = h // p["k"], w // p["k"]
        elif kind == "fc":
            if spatial:
                modules.append(FlattenHwc())
                spatial = False
            inputs, out = h * w * c, p["out"] or classes
            fc = torch.nn.Linear(inputs, out)
            weighted.append((fc, (out, inputs), inputs, out))
            modules.append(fc)
            h, w, c = 1, 1, out
        else:
            modules.append(ACTIVATIONS[kind]())
    if spatial:
        modules.append(FlattenHwc())
    if h * w * c != classes:
        sys.exit(f"torch_twin.py: the last layer gives {h * w * c} outputs, the data has "
                 f"{classes} classes")
    return torch.nn.Sequential(*modules), weighted


def leash_weights(weighted, init, seed):
    """leash_model_init_params: layer by layer, each weight tensor in leash's order
    (row-major [out][in] for fc, [out][ky][kx][in] for conv), one Box-Muller value per
    weight (NORMAL: times 0.01; HE: times sqrt(2 / fan_in)) or one uniform (GLOROT:
    times sqrt(6 / (fan_in + fan_out)) in [-1, 1)), from one generator seeded once."""
    rng = LeashRng(seed)
    out = []
    for _, shape, fan_in, fan_out in weighted:
        n = math.prod(shape)
        if init == "GLOROT":
            scale = math.sqrt(6.0 / (fan_in + fan_out))
            values = [scale * (2.0 * rng.uniform() - 1.0) for _ in range(n)]
        else:
            scale = 0.01 if init == "NORMAL" else math.sqrt(2.0 / fan_in)
            values = [scale * rng.normal() for _ in range(n)]
        out.append(np.array(values, dtype=np.float32).reshape(shape))
    return out


def cached_weights(weighted, args):
    """leash_weights, through a file in --cache-dir named by what determines them."""
    if not args.cache_dir:
        return leash_weights(weighted, args.init, args.seed)
    key = ";".join(f"{shape}" for _, shape, _, _ in weighted) + f";{args.init};{args.seed}"
    path = os.path.join(args.cache_dir,
                        f"torch-init-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return [f[f"w{i}"] for i in range(len(weighted))]
    ws = leash_weights(weighted, args.init, args.seed)
    os.makedirs(args.cache_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.npz"
    np.savez(tmp, **{f"w{i}": w for i, w in enumerate(ws)})
    os.replace(tmp, path)
    return ws


def make_model(args, h, w, c, classes):
    model, weighted = build_model(args.layers, h, w, c, classes)
    with torch.no_grad():
        for (layer, shape, _, _), wt in zip(weighted, cached_weights(weighted, args)):
            if len(shape) == 4:  # leash's [out][ky][kx][in] as torch's [out][in][ky][kx]
                wt = wt.transpose(0, 3, 1, 2)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(wt)))
            layer.bias.zero_()
    return model


class Trainer:
    """One worker's training loop: batch buffers reused across rounds, like leash's
    per-worker workspace."""

    def __init__(self, model, data, perm, args):
        self.model, self.perm, self.b = model, perm, args.batch
        self.pixels, self.labels, self.scale, self.shift = data
        self.opt = torch.optim.SGD(model.parameters(), lr=args.step)
        self.u8 = torch.empty((self.b, self.pixels.shape[1]), dtype=torch.uint8)
        self.x = torch.empty((self.b, self.pixels.shape[1]))
        self.y = torch.empty(self.b, dtype=torch.int64)

    def round(self, r):
        """Round r's window of the permutation (wrapping), mapped from bytes as leash
        maps them, then one SGD step. Returns the batch's mean loss."""
        n = len(self.perm)
        pos = r * self.b % n
        idx = self.perm[pos:pos + self.b]
        if len(idx) < self.b:
            idx = torch.cat((idx, self.perm[: self.b - len(idx)]))
        torch.index_select(self.pixels, 0, idx, out=self.u8)
        self.x.copy_(self.u8).mul_(self.scale).add_(self.shift)
        torch.index_select(self.labels, 0, idx, out=self.y)
        loss = F.cross_entropy(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def epoch(self, claim, losses=None):
        """Rounds from claim() until it returns None or a loss is not finite; returns
        (sum of the losses, their count, finite). Each loss is appended to losses if
        given."""
        total, count = 0.0, 0
        while (r := claim()) is not None:
            loss = self.round(r)
            if losses is not None:
                losses.append(loss)
            if not math.isfinite(loss):
                return total, count, False
            total += loss
            count += 1
        return total, count, True


def hogwild_worker(rank, model, data, perm, shared, args):
    torch.set_num_threads(1)
    trainer = Trainer(model, data, perm, args)
    counter, rounds, stats, stop, start, done = shared

    def claim():
        with counter.get_lock():
            r = counter.value
            counter.value = r + 1
        return r if r < rounds and not stop.value else None

    while True:
        start.wait()
        if stop.value:
            return
        total, count, finite = trainer.epoch(claim)
        if not finite:
            stop.value = 1
        stats[rank, 0], stats[rank, 1] = total, count
        done.wait()


def openblas_info():
    # torch's BLAS_INFO=generic means the reference BLAS ABI, which Debian resolves
    # through the libblas.so.3 alternative; ask the OpenBLAS loaded in this process.
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return None
    lib.openblas_get_corename.restype = lib.openblas_get_config.restype = ctypes.c_char_p
    return {"core": lib.openblas_get_corename().decode(),
            "config": lib.openblas_get_config().decode().strip()}


def evaluate(model, pixels, labels, scale, shift, chunk=1000):
    """Mean test loss and accuracy, in chunks of samples (a wide CNN's activations for
    the whole test set would take gigabytes)."""
    loss, hits = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(pixels), chunk):
            logits = model(pixels[i:i + chunk].float().mul_(scale).add_(shift))
            y = labels[i:i + chunk]
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            hits += int((logits.argmax(1) == y).sum())
    return loss / len(pixels), hits / len(pixels)


def main():
    args = ARGS
    train_x, train_y, image_shape = load(args.data_dir, "train")
    test_x, test_y, _ = load(args.data_dir, "t10k")
    if args.batch > len(train_x):
        sys.exit(f"torch_twin.py: --batch {args.batch} exceeds {len(train_x)} samples")
    scale, shift = standardization(train_x)
    data = (train_x, train_y, scale, shift)
    rounds = args.rounds or len(train_x) // args.batch
    torch.set_num_threads(args.threads if args.mode == "single" else 1)
    classes = int(max(train_y.max(), test_y.max())) + 1
    model = make_model(args, *image_shape, classes)
    order = list(range(len(train_x)))
    perm = torch.empty(len(order), dtype=torch.int64)
    rng = LeashRng(args.seed ^ 0x5EED5EED5EED5EED)

    losses = None
    if args.mode == "single":
        trainer = Trainer(model, data, perm, args)

        def run_epoch():
            left = iter(range(rounds))
            return trainer.epoch(lambda: next(left, None), losses)
    else:
        model.share_memory()
        perm.share_memory_()
        ctx = mp.get_context("fork")
        workers = args.threads
        stats = torch.zeros((workers, 2), dtype=torch.float64).share_memory_()
        counter, stop = ctx.Value("q", 0), ctx.Value("i", 0, lock=False)
        start, done = ctx.Barrier(workers + 1), ctx.Barrier(workers + 1)
        shared = (counter, rounds, stats, stop, start, done)
        procs = [ctx.Process(target=hogwild_worker, args=(k, model, data, perm, shared, args))
                 for k in range(workers)]
        for p in procs:
            p.start()

        def run_epoch():
            counter.value = 0
            start.wait()
            done.wait()
            return stats[:, 0].sum().item(), int(stats[:, 1].sum().item()), not stop.value

    epochs, time_total, samples, target_time, finite = [], 0.0, 0, None, True
    for e in range(args.epochs):
        losses = [] if args.losses and args.mode == "single" else None
        rng.shuffle(order)
        perm.copy_(torch.tensor(order, dtype=torch.int64))
        t0 = time.perf_counter()
        total, count, finite = run_epoch()
        dt = time.perf_counter() - t0
        time_total += dt
        samples += count * args.batch
        loss = total / count if count else float("nan")
        epochs.append({"epoch": e + 1, "train_loss": loss, "time_s": dt, "updates": count})
        if losses is not None:
            epochs[-1]["losses"] = losses
        if not finite:
            break
        if args.target_loss > 0 and loss <= args.target_loss:
            target_time = time_total
            break

    if args.mode == "hogwild":
        stop.value = 1
        start.wait()
        for p in procs:
            p.join()
    test_loss, test_acc = evaluate(model, test_x, test_y, scale, shift)
    cfg = torch.__config__.show()
    print(json.dumps({
        "implementation": "pytorch",
        "torch_version": torch.__version__,
        "blas": {"torch_blas_info": next((s.split("=")[1] for s in cfg.replace(",", " ").split()
                                          if s.startswith("BLAS_INFO=")), None),
                 "openblas": openblas_info(),
                 "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE")},
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")},
        "config": {"mode": args.mode, "arch": args.arch, "init": args.init,
                   "threads": args.threads, "step": args.step,
                   "batch": args.batch, "epochs": args.epochs, "rounds": rounds,
                   "target_loss": args.target_loss, "seed": args.seed,
                   "data_dir": args.data_dir, "train_samples": len(train_x)},
        "epochs": epochs,
        "final": {"train_loss": epochs[-1]["train_loss"], "test_loss": test_loss,
                  "test_accuracy": test_acc, "time_s": time_total,
                  "time_to_target_s": target_time, "updates": sum(e["updates"] for e in epochs),
                  "samples_per_s": samples / time_total if time_total > 0 else 0.0},
    }, indent=1))
    if not finite:
        print("torch_twin.py: training diverged: the loss became non-finite", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
