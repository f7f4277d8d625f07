#!/usr/bin/python3
"""PyTorch twin of a leash MLP or CNN run, for bench/torch_compare.

Trains the model leash trains (--arch MLP: -A MLP -L 3 -U 128, ReLU; --arch CNN: -A CNN,
conv 3x3x4 - ReLU - max pool 2 - conv 3x3x8 - ReLU - max pool 2 - fc 128 - ReLU - fc 10;
softmax + mean cross-entropy, plain SGD) on Fashion-MNIST the way leash does, and prints
one JSON object whose `final` fields mean what they mean in leash's document
(doc/output.md).

Identical to leash, not merely alike: the weights and the epochs' sample order come from
a port of leash's generator (src/core/rng.c) seeded as leash seeds it, so a `single` run
with one thread follows `leash -a SEQ` with the same seed step for step, up to float
rounding. The CNN's tensors are leash's, laid out as torch wants them: conv weights
[out][ky][kx][in] become [out][in][ky][kx], and the last pooled map is flattened in
leash's (y, x, channel) order, so fc 128's weights are leash's as they are. Inputs stay
uint8 and are standardized per batch (leash's input map), epoch e
is the first `rounds` windows of b samples of a fresh shuffle, the training loss is the
mean of the epoch's mini-batch losses, and time counts training only (leash shuffles
and evaluates outside it too).

Modes: `single`, one process with --threads intra-op and OpenBLAS threads; `hogwild`,
--threads processes over one model in shared memory (model.share_memory()), one thread
each, claiming rounds from a shared counter as leash's workers do.
"""
import argparse
import ctypes
import gzip
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
    p.add_argument("--arch", choices=("MLP", "CNN"), default="MLP", help="leash -A")
    p.add_argument("--init", choices=("NORMAL", "HE"), default="NORMAL", help="leash --init")
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
    a = p.parse_args()
    if a.threads < 1 or a.batch < 1 or a.epochs < 1 or a.rounds < 0 or a.step <= 0:
        p.error("--threads, --batch, --epochs and --step must be positive, --rounds >= 0")
    return a


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
    return torch.from_numpy(x.reshape(len(x), -1).copy()), torch.from_numpy(y.astype(np.int64))


def standardization(pixels):
    """leash_input_map_standardize: exact sums, double mean and variance, float map."""
    flat = pixels.numpy().ravel()
    n = flat.size
    mean = int(flat.sum(dtype=np.uint64)) / n
    var = int((flat.astype(np.uint64) ** 2).sum(dtype=np.uint64)) / n - mean * mean
    inv_std = 1.0 / math.sqrt(var) if var > 1e-12 else 1.0 / 255.0
    return float(np.float32(inv_std)), float(np.float32(-mean * inv_std))


class Cnn(torch.nn.Module):
    """leash's -A CNN on 28x28x1 inputs given as rows of 784 bytes' floats."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 8, 3)
        self.fc1, self.fc2 = torch.nn.Linear(5 * 5 * 8, 128), torch.nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x.view(-1, 1, 28, 28))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        # (y, x, channel) order, as leash flattens its HWC maps
        x = x.permute(0, 2, 3, 1).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def make_model(arch, inputs, init, seed):
    if arch == "MLP":
        model = torch.nn.Sequential(
            torch.nn.Linear(inputs, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 10))
        layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    else:
        model = Cnn()
        layers = [model.conv1, model.conv2, model.fc1, model.fc2]
    # leash_model_init_params: layer by layer, weights in leash's order (row-major
    # [out][in] for fc, [out][ky][kx][in] for conv), one Box-Muller pair per value, times
    # 0.01 (NORMAL) or sqrt(2 / fan_in) (HE); zero biases.
    rng = LeashRng(seed)
    with torch.no_grad():
        for layer in layers:
            shape = layer.weight.shape
            if len(shape) == 4:  # torch's [out][in][ky][kx]
                out_c, in_c, k, _ = shape
                leash_shape, fan_in = (out_c, k, k, in_c), k * k * in_c
            else:
                leash_shape, fan_in = tuple(shape), shape[1]
            scale = 0.01 if init == "NORMAL" else math.sqrt(2.0 / fan_in)
            w = np.array([scale * rng.normal() for _ in range(layer.weight.numel())],
                         dtype=np.float32).reshape(leash_shape)
            if len(shape) == 4:
                w = w.transpose(0, 3, 1, 2)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
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

    def epoch(self, claim):
        """Rounds from claim() until it returns None or a loss is not finite; returns
        (sum of the losses, their count, finite)."""
        total, count = 0.0, 0
        while (r := claim()) is not None:
            loss = self.round(r)
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


def evaluate(model, pixels, labels, scale, shift):
    with torch.no_grad():
        logits = model(pixels.float().mul_(scale).add_(shift))
        return (F.cross_entropy(logits, labels).item(),
                (logits.argmax(1) == labels).double().mean().item())


def main():
    args = ARGS
    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "t10k")
    if args.batch > len(train_x):
        sys.exit(f"torch_twin.py: --batch {args.batch} exceeds {len(train_x)} samples")
    scale, shift = standardization(train_x)
    data = (train_x, train_y, scale, shift)
    rounds = args.rounds or len(train_x) // args.batch
    torch.set_num_threads(args.threads if args.mode == "single" else 1)
    model = make_model(args.arch, train_x.shape[1], args.init, args.seed)
    order = list(range(len(train_x)))
    perm = torch.empty(len(order), dtype=torch.int64)
    rng = LeashRng(args.seed ^ 0x5EED5EED5EED5EED)

    if args.mode == "single":
        trainer = Trainer(model, data, perm, args)

        def run_epoch():
            left = iter(range(rounds))
            return trainer.epoch(lambda: next(left, None))
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
        rng.shuffle(order)
        perm.copy_(torch.tensor(order, dtype=torch.int64))
        t0 = time.perf_counter()
        total, count, finite = run_epoch()
        dt = time.perf_counter() - t0
        time_total += dt
        samples += count * args.batch
        loss = total / count if count else float("nan")
        epochs.append({"epoch": e + 1, "train_loss": loss, "time_s": dt, "updates": count})
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
