#!/usr/bin/env python3
"""PyTorch CPU eager side of the towerplan-vs-PyTorch DLRM training benchmark (issue 4).

The model is the one towerplan's Swift trainer runs for workloads/dlrm-kaggle-bench.xml,
written here in the style of facebookresearch/dlrm (dlrm_s_pytorch.py):

  - 26 sparse features, each an nn.EmbeddingBag(100_000, 16, mode="sum", sparse=True),
    one id per feature and sample (offsets = 0, 1, 2, ...);
  - 13 dense features through the bottom MLP 13-512-256-64-16, ReLU after every layer
    (as dlrm does with its default sigmoid_bot=-1: the last bottom layer is ReLU too);
  - dot interaction: the dense vector and the 26 pooled embeddings stacked to [B, 27, 16],
    Z = T @ T^T by one batched matmul, the strict lower triangle (351 values) kept and
    concatenated after the dense vector: 16 + 351 = 367 features;
  - top MLP 367-512-256-1, ReLU between layers and none after the last (logits);
  - BCEWithLogitsLoss (mean over the batch);
  - plain SGD, lr 0.1, on every parameter; the tables get sparse gradients, which
    torch.optim.SGD applies row by row (as dlrm does).

Data are synthetic and made before timing: a pool of --pool distinct batches (uniform ids
in [0, 100000), standard-normal dense features, Bernoulli(0.5) labels), cycled, seeded.
--warmup untimed steps, then --steps timed steps split into windows of --window steps.
Prints one JSON line on stdout (diagnostics go to stderr).
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import statistics
import sys
import time
import warnings

# The venv has no NumPy on purpose (it is not needed); keep torch's import quiet about it.
warnings.filterwarnings("ignore", message=r"Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

NUM_TABLES = 26
ROWS_PER_TABLE = 100_000
EMBEDDING_DIM = 16
NUM_DENSE = 13
BOTTOM_MLP = [NUM_DENSE, 512, 256, 64, EMBEDDING_DIM]
TOP_HIDDEN = [512, 256, 1]


def make_mlp(widths, relu_after_last):
    """Linear layers widths[0]->widths[1]->...; dlrm's initialisation (normal, Glorot-like std)."""
    layers = []
    for i in range(len(widths) - 1):
        fan_in, fan_out = widths[i], widths[i + 1]
        linear = nn.Linear(fan_in, fan_out, bias=True)
        with torch.no_grad():
            linear.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            linear.bias.normal_(0.0, math.sqrt(1.0 / fan_out))
        layers.append(linear)
        if i < len(widths) - 2 or relu_after_last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = nn.ModuleList()
        bound = math.sqrt(1.0 / ROWS_PER_TABLE)
        for _ in range(NUM_TABLES):
            bag = nn.EmbeddingBag(ROWS_PER_TABLE, EMBEDDING_DIM, mode="sum", sparse=True)
            with torch.no_grad():
                bag.weight.uniform_(-bound, bound)
            self.embeddings.append(bag)
        self.bottom = make_mlp(BOTTOM_MLP, relu_after_last=True)
        num_vectors = NUM_TABLES + 1
        # Strict lower triangle of the [27, 27] Gram matrix, row-major: (1,0), (2,0), (2,1), ...
        rows, cols = torch.tril_indices(num_vectors, num_vectors, offset=-1)
        self.register_buffer("tri_rows", rows, persistent=False)
        self.register_buffer("tri_cols", cols, persistent=False)
        interaction_width = EMBEDDING_DIM + num_vectors * (num_vectors - 1) // 2  # 16 + 351
        self.top = make_mlp([interaction_width] + TOP_HIDDEN, relu_after_last=False)

    def interact(self, dense, pooled):
        batch = dense.shape[0]
        stacked = torch.cat([dense] + pooled, dim=1).view(batch, -1, EMBEDDING_DIM)  # [B, 27, 16]
        gram = torch.bmm(stacked, stacked.transpose(1, 2))  # [B, 27, 27]
        pairs = gram[:, self.tri_rows, self.tri_cols]  # [B, 351]
        return torch.cat([dense, pairs], dim=1)  # [B, 367]

    def forward(self, dense, ids, offsets):
        x = self.bottom(dense)
        pooled = [bag(ids[t], offsets) for t, bag in enumerate(self.embeddings)]
        return self.top(self.interact(x, pooled))


def make_pool(pool_size, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    pool = []
    for _ in range(pool_size):
        dense = torch.randn(batch, NUM_DENSE, generator=gen)
        ids = torch.randint(0, ROWS_PER_TABLE, (NUM_TABLES, batch), generator=gen, dtype=torch.int64)
        labels = torch.bernoulli(torch.full((batch, 1), 0.5), generator=gen)
        pool.append((dense, ids, labels))
    offsets = torch.arange(batch, dtype=torch.int64)  # one id per sample and feature
    return pool, offsets


def blas_info():
    """Which BLAS / threading this torch build uses (from torch.__config__)."""
    cfg = torch.__config__.show()
    info = {}
    for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"):
        match = re.search(key + r"=([^,\s]+)", cfg)
        if match:
            info[key.lower()] = match.group(1)
    info["mkl_available"] = torch.backends.mkl.is_available()
    info["mkldnn_available"] = torch.backends.mkldnn.is_available()
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["parallel_info"] = " ".join(
        l.strip() for l in torch.__config__.parallel_info().splitlines() if "backend" in l.lower()
    )
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (torch.set_num_threads)")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
    ap.add_argument("--window", type=int, default=10, help="steps per timing window (for the median)")
    ap.add_argument("--pool", type=int, default=16, help="distinct pre-generated batches, cycled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.1)
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or args.threads < 1 or args.window < 1 or args.pool < 1:
        ap.error("--steps, --batch, --threads, --window and --pool must be positive")

    # Inter-op first: it can only be set before any inter-op parallel work starts.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = DLRM()
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    pool, offsets = make_pool(args.pool, args.batch, args.seed + 1)

    def step(i):
        dense, ids, labels = pool[i % len(pool)]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(dense, ids, offsets), labels)
        loss.backward()
        optimizer.step()
        return loss

    first_loss = None
    for i in range(args.warmup):
        loss = step(i)
        if first_loss is None:
            first_loss = loss.item()

    window_seconds = []
    done = 0
    start = time.perf_counter()
    window_start = start
    loss = None
    while done < args.steps:
        n = min(args.window, args.steps - done)
        for _ in range(n):
            loss = step(args.warmup + done)
            done += 1
        now = time.perf_counter()
        window_seconds.append((n, now - window_start))
        window_start = now
    total = time.perf_counter() - start
    last_loss = loss.item()

    window_rates = [n * args.batch / s for n, s in window_seconds]
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = {
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "threads": args.threads,
        "interop_threads": torch.get_num_interop_threads(),
        "batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "samples_per_second": round(args.steps * args.batch / total, 1),
        "samples_per_second_median_window": round(statistics.median(window_rates), 1),
        "samples_per_second_windows": [round(r, 1) for r in window_rates],
        "ms_per_step": round(1000.0 * total / args.steps, 3),
        "seconds_timed": round(total, 3),
        "peak_rss_mib": round(maxrss_kib / 1024.0, 1),
        "loss_first": round(first_loss, 5) if first_loss is not None else None,
        "loss_last": round(last_loss, 5),
        "seed": args.seed,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **blas_info(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
