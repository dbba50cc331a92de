#!/usr/bin/env python3
"""libscoresde side by side with PyTorch (a benchmark program, never a test;
issue 14, "Benchmarks").

Three workloads, written once through the library's public C API (the C twin,
tests/bench/bench_peer.c) and once in PyTorch (below), on the same network:
VP SDE (beta 0.1 .. 20), MLP D -> 3 x 256 SiLU -> D with a noise output
(s = -F / sigma(t)) and 16 sinusoidal time features (tau = 999 t, frequencies
10000^(-k / 7), [sin, cos]) entering the first layer beside x; weights normal
with variance 1 / fan_in, biases zero:
  train   one DSM training step, batch 4096: t ~ U(1e-5, 1), z ~ N(0, I),
          loss mean((F(alpha x0 + sigma z, t) - z)^2) (the library's DSM with
          sigma^2 weights and mean reduction is this loss), backward, gradient
          clipping at norm 1, Adam (lr 2e-4 with 5000 warm-up steps, betas
          0.9, 0.999, eps 1e-8), an EMA of the parameters (rate 0.9999);
  sample  Euler-Maruyama on the reverse SDE, 10000 samples from the prior
          N(0, I), 200 steps on the uniform grid from 1 to 1e-3, no
          denoising step;
  lik     probability-flow ODE log-likelihoods of 1000 points drawn N(0, I):
          classical RK4, 50 steps on the uniform grid from 1e-5 to 1, the
          exact divergence (PyTorch: one forward pass and D backward passes
          for the input gradients of the outputs, the usual autograd trace).
and variants at D = 16, 64 and 256. The full run keeps those batch shapes
but takes fewer steps (20 sampling steps, 5 RK4 steps at D = 2; the sizes of
each row are printed): a step repeats the same work, so the ratios are those
of the whole runs, and `--sample-steps 200 --lik-steps 50` runs them whole.

Each (workload, D, precision, threads) runs ROUNDS times; in every round three
separate processes run one after another, the C twin, the PyTorch twin (their
order alternating between rounds) and a BLIS GEMM replay of the workload's
GEMMs (bench_peer gemm), so all three see nearly the same machine load. Each
process reports its times and its peak resident set (separate processes,
since tracemalloc cannot see C's memory; VmHWM of /proc/self/status, the
peak of the process image, because ru_maxrss keeps the high-water mark of
the parent from before exec, about 14 MB of Python here). Printed per row: the
median over rounds of the paired ratio torch/lib of the same round, each
side's median time, each side's ratio to the GEMM bound of the same round
(the time BLIS alone takes for the workload's GEMMs at the best shape: a
forward pass of every row, and for lik D tangent passes, for train the
forward and parameter backward of the batch), the peak memory (and the
growth over the process's baseline: after `import torch` for PyTorch, at
start for the C twin), and the load average when the row started.

Why processes and not the ctypes binding: peak memory is only measurable per
process, and a C program's is then its own, without an interpreter and
PyTorch's 230 MB in the same address space; the C twin is the library as a C
user calls it, through the shared library's exported symbols; and the
processes' start-up (importing torch takes seconds) stays outside the timed
region, which only covers the workload after a warm-up.

Threads: for T threads both processes run with OMP_NUM_THREADS = T and
BLIS_NUM_THREADS = T (Debian's PyTorch calls BLIS through libblas.so.3, which
reads them); PyTorch calls torch.set_num_threads(T); the C twin sets the
model's n_threads = T and, for sample and lik, the sampler's THREADS = T over
blocks of 256 samples (at least two blocks).

Differences between the twins (documented, not hidden): the library's API
and its sampler state are double even with a float32 network; PyTorch float32
keeps everything in float32. Random numbers: Philox-4x32-10 with Box-Muller
per sample in the library, PyTorch's CPU generator (MT19937) otherwise; the
values differ, the amounts drawn are the same. `--check` (on by default)
first proves that the twins compute the same function: the C twin prints its
float64 parameters, scores, divergences, alpha, sigma, g^2 and RK4
likelihoods at 8 points; PyTorch loads the parameters and must agree.

Usage: torch_peer.py [--quick | --full] [--bench PATH] [--rounds N]
                     [--dims 2,16] [--workloads train,sample,lik]
                     [--threads 1,2] [--precisions f64,f32]
                     [--sample-steps N] [--lik-points N] [--lik-steps N]
                     [--block N] [--no-check] [--env NAME=VALUE] [--json FILE]
Without torch (Debian: python3-torch) it prints why and exits with 77.
SPDX-License-Identifier: BSD-3-Clause
"""
import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

H, NH, EMBED = 256, 3, 16
BETA_MIN, BETA_MAX, T_END = 0.1, 20.0, 1.0
EPS_TRAIN, EPS_SAMPLE = 1e-5, 1e-3
LR, WARMUP, EMA_RATE, CLIP = 2e-4, 5000, 0.9999, 1.0

# Sizes. The batch shapes are the (train 4096 rows, sample 10000
# samples, lik 1000 points at D = 2); the steps only repeat the same work, so
# the full run takes fewer of them (the ratios are per step; --sample-steps
# 200 --lik-steps 50 gives the exact runs). At D = 16, 64, 256 the
# likelihood's D input-gradient passes make each RK4 step (1 + D) forward
# passes' worth, so fewer points there.
FULL = {
    "rounds": 3,
    "train": {d: {"n": 4096, "reps": 3, "warm": 1} for d in (2, 16, 64, 256)},
    "sample": {2: {"n": 10000, "steps": 20}, 16: {"n": 10000, "steps": 10},
               64: {"n": 10000, "steps": 10}, 256: {"n": 10000, "steps": 5}},
    "lik": {2: {"n": 1000, "steps": 5}, 16: {"n": 1000, "steps": 1},
            64: {"n": 250, "steps": 1}, 256: {"n": 64, "steps": 1}},
}
QUICK = {
    "rounds": 1,
    "train": {d: {"n": 4096, "reps": 3} for d in (2, 16, 64, 256)},
    "sample": {d: {"n": 10000, "steps": 2} for d in (2, 16, 64, 256)},
    "lik": {2: {"n": 1000, "steps": 1}, 16: {"n": 1000, "steps": 1},
            64: {"n": 250, "steps": 1}, 256: {"n": 64, "steps": 1}},
}
BLOCK = 256


def maxrss_kb():
    """The peak resident set of this process image (VmHWM), as bench_peer's:
    ru_maxrss would carry the parent's size over fork and exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------- the PyTorch twin

def torch_twin(torch):
    """The network and the SDE in PyTorch (defined once torch is imported)."""
    F = torch.nn.functional

    class Net(torch.nn.Module):
        def __init__(self, D, dtype):
            super().__init__()
            dims = [D + EMBED] + [H] * NH + [D]
            self.layers = torch.nn.ModuleList(
                torch.nn.Linear(dims[i], dims[i + 1], dtype=dtype) for i in range(NH + 1))
            with torch.no_grad():
                for lin in self.layers:
                    lin.weight.normal_(0.0, 1.0 / math.sqrt(lin.in_features))
                    lin.bias.zero_()
            h = EMBED // 2
            k = torch.arange(h, dtype=torch.float64)
            self.register_buffer("freq", torch.exp(-math.log(10000.0) * k / (h - 1)).to(dtype))

        def forward(self, x, t):
            a = (999.0 * t)[:, None] * self.freq[None, :]
            h = torch.cat([x, torch.sin(a), torch.cos(a)], dim=1)
            for lin in self.layers[:-1]:
                h = F.silu(lin(h))
            return self.layers[-1](h)

        def load_flat(self, theta):
            """The library's flat order: W_1 (row-major, out x in), b_1, ..., W_L, b_L."""
            i = 0
            with torch.no_grad():
                for lin in self.layers:
                    for p in (lin.weight, lin.bias):
                        n = p.numel()
                        p.copy_(torch.tensor(theta[i:i + n], dtype=p.dtype).reshape(p.shape))
                        i += n
            assert i == len(theta), f"{len(theta)} parameters, the network has {i}"

    def log_alpha(t):
        return -0.25 * t * t * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN

    def alpha_sigma(t):
        """alpha(t), sigma(t) for a float or a tensor t."""
        if isinstance(t, float):
            la = log_alpha(t)
            return math.exp(la), math.sqrt(-math.expm1(2.0 * la))
        la = log_alpha(t)
        return torch.exp(la), torch.sqrt(-torch.expm1(2.0 * la))

    def beta(t):
        return BETA_MIN + t * (BETA_MAX - BETA_MIN)

    def grid(eps, steps):
        """The library's UNIFORM_T grid t_k = T + (k / N)(eps - T), k = 0..N."""
        return [T_END + (k / steps) * (eps - T_END) for k in range(steps + 1)]

    def lik_rhs(net, x, t, D):
        """The augmented probability-flow ODE: dx/dt = f - g^2 s / 2 and
        d delta/dt = D a(t) - g^2 div s / 2, with the exact divergence."""
        n = x.shape[0]
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = net(xg, torch.full((n,), t, dtype=x.dtype))
            div = torch.zeros(n, dtype=x.dtype)
            for j in range(D):
                (g,) = torch.autograd.grad(out[:, j].sum(), xg, retain_graph=j < D - 1)
                div += g[:, j]
        _, sig = alpha_sigma(t)
        b = beta(t)
        s = out.detach() / -sig
        return -0.5 * b * x - 0.5 * b * s, D * (-0.5 * b) + 0.5 * b * div / sig

    def likelihood(net, x, steps, D):
        ts = grid(EPS_TRAIN, steps)[::-1]
        delta = torch.zeros(x.shape[0], dtype=x.dtype)
        for k in range(steps):
            t, h = ts[k], ts[k + 1] - ts[k]
            k1x, k1d = lik_rhs(net, x, t, D)
            k2x, k2d = lik_rhs(net, x + 0.5 * h * k1x, t + 0.5 * h, D)
            k3x, k3d = lik_rhs(net, x + 0.5 * h * k2x, t + 0.5 * h, D)
            k4x, k4d = lik_rhs(net, x + h * k3x, t + h, D)
            x = x + (h / 6.0) * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
            delta = delta + (h / 6.0) * (k1d + 2.0 * k2d + 2.0 * k3d + k4d)
        prior = -0.5 * D * math.log(2.0 * math.pi) - 0.5 * (x * x).sum(dim=1)
        return prior + delta

    def sample(net, n, D, steps, dtype):
        ts = grid(EPS_SAMPLE, steps)
        with torch.no_grad():
            x = torch.randn(n, D, dtype=dtype)
            for k in range(steps):
                t, u = ts[k], ts[k + 1]
                h = t - u
                _, sig = alpha_sigma(t)
                b = beta(t)
                out = net(x, torch.full((n,), t, dtype=dtype))
                # x_mean = x - h [f - g^2 s] with f = -b x / 2, s = -out / sigma
                x = x + h * (0.5 * b * x - (b / sig) * out) + math.sqrt(b * h) * torch.randn_like(x)
        return x

    class Trainer:
        def __init__(self, net):
            self.net = net
            self.params = list(net.parameters())
            self.opt = torch.optim.Adam(self.params, lr=LR, betas=(0.9, 0.999), eps=1e-8)
            self.ema = [p.detach().clone() for p in self.params]
            self.steps = 0

        def step(self, x0):
            n, D = x0.shape
            t = EPS_TRAIN + (T_END - EPS_TRAIN) * torch.rand(n, dtype=x0.dtype)
            z = torch.randn(n, D, dtype=x0.dtype)
            a, s = alpha_sigma(t)
            out = self.net(a[:, None] * x0 + s[:, None] * z, t)
            loss = ((out - z) ** 2).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, CLIP)
            self.steps += 1
            for g in self.opt.param_groups:
                g["lr"] = LR * min(1.0, self.steps / WARMUP)
            self.opt.step()
            d = min(EMA_RATE, (1.0 + self.steps) / (10.0 + self.steps))
            with torch.no_grad():
                for e, p in zip(self.ema, self.params):
                    e.mul_(d).add_(p, alpha=1.0 - d)
            return float(loss)

    return Net, Trainer, sample, likelihood, alpha_sigma, beta


def worker(args):
    """One PyTorch process: the twin of `bench_peer MODE D PREC THREADS ...`."""
    start_kb = maxrss_kb()
    import torch
    mode, D, prec, threads = args[0], int(args[1]), args[2], int(args[3])
    kv = {k: int(v) for k, v in (a.split("=") for a in args[4:])}
    torch.set_num_threads(threads)
    base = maxrss_kb()
    dtype = torch.float32 if prec == "f32" else torch.float64
    torch.manual_seed(0)
    Net, Trainer, sample, likelihood, alpha_sigma, beta = torch_twin(torch)
    net = Net(D, dtype)
    n = kv.get("n", {"sample": 10000, "lik": 1000}.get(mode, 4096))
    steps = kv.get("steps", 200 if mode == "sample" else 50)
    reps = kv.get("reps", 5 if mode == "train" else 1)
    warm = kv.get("warm", 1 if mode == "lik" else 2)
    times, summary = [], 0.0
    if mode == "train":
        tr = Trainer(net)
        x0 = torch.randn(n, D, dtype=dtype)
        for _ in range(warm):
            summary = tr.step(x0)
        for _ in range(reps):
            t0 = time.perf_counter()
            summary = tr.step(x0)
            times.append(time.perf_counter() - t0)
    else:
        for p in net.parameters():
            p.requires_grad_(False)
        x = torch.randn(n, D, dtype=dtype)
        for r in range(-1, reps):  # r = -1: the short warm-up run
            k = warm if r < 0 else steps
            t0 = time.perf_counter()
            out = likelihood(net, x, k, D) if mode == "lik" else sample(net, n, D, k, dtype)
            if r >= 0:
                times.append(time.perf_counter() - t0)
        summary = float(out.sum() / (n * D)) if mode == "lik" else float((out * out).mean())
    print(json.dumps({"side": "torch", "torch": torch.__version__, "mode": mode, "D": D, "prec": prec, "threads": threads,
                      "n": n, "steps": steps, "times": times, "summary": summary,
                      "maxrss_kb": maxrss_kb(), "base_kb": base, "start_kb": start_kb}))
    return 0


def check_worker(payload_path):
    """Compare PyTorch's float64 twin with the C twin's output (bench_peer check)."""
    import torch
    torch.set_num_threads(1)
    ref = json.load(open(payload_path))
    D = ref["D"]
    Net, _, _, likelihood, alpha_sigma, beta = torch_twin(torch)
    net = Net(D, torch.float64)
    net.load_flat(ref["params"])
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.tensor(ref["x"], dtype=torch.float64).reshape(-1, D)
    t = torch.tensor(ref["t"], dtype=torch.float64)
    a, s = alpha_sigma(t)
    score = -net(x, t) / s[:, None]
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = net(xg, t)
        div = torch.zeros(x.shape[0], dtype=torch.float64)
        for j in range(D):
            (g,) = torch.autograd.grad(out[:, j].sum(), xg, retain_graph=j < D - 1)
            div += g[:, j]
    div = -div / s
    logp = likelihood(net, x, ref["steps"], D)

    def rel(mine, theirs):
        theirs = torch.tensor(theirs, dtype=torch.float64).reshape(mine.shape)
        return float((mine - theirs).abs().max() / theirs.abs().max().clamp(min=1e-300))

    errors = {
        "alpha": rel(a, ref["alpha"]), "sigma": rel(s, ref["sigma"]),
        "g2": rel(beta(t), ref["g2"]), "score": rel(score, ref["score"]),
        "divergence": rel(div, ref["div"]), "logp": rel(logp, ref["logp"]),
    }
    print(json.dumps(errors))
    return 0


# -------------------------------------------------------------------- the driver

def run_json(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"torch_peer: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        sys.exit(f"torch_peer: no JSON from {' '.join(cmd)}:\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1])


EXTRA_ENV = {}


def thread_env(threads):
    env = dict(os.environ)
    env.update(EXTRA_ENV)
    env["OMP_NUM_THREADS"] = str(threads)
    env["BLIS_NUM_THREADS"] = str(threads)
    return env


def find_bench(path):
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(os.getcwd(), "bench_peer"),
                 os.path.join(os.getcwd(), "tests", "bench", "bench_peer"),
                 os.path.join(here, "bench_peer")):
        if os.access(cand, os.X_OK):
            return cand
    sys.exit("torch_peer: bench_peer not found: build with -Dbench=true and pass --bench "
             "BUILD/tests/bench/bench_peer (or run from the build directory)")


def run_check(bench, dims, steps):
    ok = True
    for D in dims:
        ref = run_json([bench, "check", str(D), "f64", "1", f"steps={steps}"], thread_env(1))
        path = f"/tmp/torch_peer_check_{os.getpid()}_{D}.json"
        with open(path, "w") as f:
            json.dump(ref, f)
        try:
            err = run_json([sys.executable, os.path.abspath(__file__), "--check-worker", path],
                           thread_env(1))
        finally:
            os.unlink(path)
        # Rounding alone: 1e-12 (float64 sums in other orders, libm against
        # PyTorch's sin/cos/exp); a different formula would show at 1e-3 or more.
        bad = {k: v for k, v in err.items() if not v <= 1e-9}
        ok = ok and not bad
        print(f"check D = {D}: largest relative differences, C twin vs PyTorch (float64): "
              + ", ".join(f"{k} {v:.1e}" for k, v in err.items())
              + ("  OK" if not bad else f"  MISMATCH in {', '.join(bad)}"))
    return ok


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def median(v):
    return statistics.median(v) if v else float("nan")


def bound_of(work, g, n, steps, D):
    if work == "train":
        return g["train_step"]
    if work == "sample":
        return steps * n * g["fwd_per_row"]
    return 4 * steps * (n * g["fwd_per_row"] + D * n * g["tan_per_row"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one round, D = 2, short runs")
    mode.add_argument("--full", action="store_true", help="the issue's sizes (default)")
    ap.add_argument("--bench", help="path of the C twin, BUILD/tests/bench/bench_peer")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--dims", help="comma-separated D (full: 2,16,64,256; quick: 2)")
    ap.add_argument("--workloads", default="train,sample,lik")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--precisions", default="f64,f32")
    ap.add_argument("--sample-steps", type=int)
    ap.add_argument("--lik-points", type=int)
    ap.add_argument("--lik-steps", type=int)
    ap.add_argument("--block", type=int,
                    help="the library's BLOCK for sample and lik (default 256, at least two "
                         "blocks; n gives one block, and the threads go to the model's n_threads)")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="set this in both sides' environment (e.g. OMP_WAIT_POLICY=passive)")
    ap.add_argument("--json", help="also write every process's result to this file")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--check-worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker)
    if a.check_worker:
        return check_worker(a.check_worker)
    if importlib.util.find_spec("torch") is None:
        print("torch_peer: skipped: PyTorch is not installed for this Python "
              f"({sys.executable}); on Debian: apt install python3-torch")
        return 77
    for kv in a.env:
        name, _, value = kv.partition("=")
        EXTRA_ENV[name] = value
    preset = QUICK if a.quick else FULL
    rounds = a.rounds or preset["rounds"]
    dims = [int(d) for d in (a.dims or ("2" if a.quick else "2,16,64,256")).split(",")]
    works = a.workloads.split(",")
    threads = [int(t) for t in a.threads.split(",")]
    precs = a.precisions.split(",")
    for w in works:
        if w not in ("train", "sample", "lik"):
            sys.exit(f"torch_peer: unknown workload '{w}'")
    bench = find_bench(a.bench)
    print(f"torch_peer: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; {rounds} round(s) of alternating processes; C twin {bench}"
          + (f"; environment {EXTRA_ENV}" if EXTRA_ENV else ""))
    if not a.no_check and not run_check(bench, sorted(set(min(d, 64) for d in dims)), 3):
        sys.exit("torch_peer: the twins do not compute the same function")
    log = []
    rows = []
    hdr = (f"{'work':6} {'D':>4} {'prec':4} {'thr':>3} {'size':>14} {'lib s':>9} {'torch s':>9} "
           f"{'torch/lib':>9} {'lib/GEMM':>8} {'torch/GEMM':>10} {'lib MB':>13} "
           f"{'torch MB':>13} {'load':>5}")
    print(hdr)
    for D in dims:  # D outside: the D = 2 rows come first
        for w in works:
            size = dict(preset[w].get(D, preset[w][max(preset[w])]))
            if w == "sample" and a.sample_steps:
                size["steps"] = a.sample_steps
            if w == "lik" and a.lik_points:
                size["n"] = a.lik_points
            if w == "lik" and a.lik_steps:
                size["steps"] = a.lik_steps
            n = size["n"]
            steps = size.get("steps", 1)
            kv = [f"n={n}"]
            if "steps" in size:
                kv.append(f"steps={steps}")
            if "reps" in size:
                kv.append(f"reps={size['reps']}")
            if "warm" in size:
                kv.append(f"warm={size['warm']}")
            for prec in precs:
                for th in threads:
                    block = a.block or (BLOCK if n >= 2 * BLOCK else max(1, (n + 1) // 2))
                    lib_cmd = [bench, w, str(D), prec, str(th)] + kv + [f"block={block}"]
                    torch_cmd = [sys.executable, os.path.abspath(__file__), "--worker", w,
                                 str(D), prec, str(th)] + kv
                    gemm_cmd = [bench, "gemm", str(D), prec, str(th), "n=4096"]
                    env = thread_env(th)
                    load0 = os.getloadavg()[0]
                    res = {"lib": [], "torch": [], "gemm": []}
                    for r in range(rounds):
                        order = ["lib", "torch"] if r % 2 == 0 else ["torch", "lib"]
                        for side in order + ["gemm"]:
                            cmd = {"lib": lib_cmd, "torch": torch_cmd, "gemm": gemm_cmd}[side]
                            out = run_json(cmd, env)
                            out["load"] = os.getloadavg()[0]
                            res[side].append(out)
                            log.append(out)
                    tl = [median(o["times"]) for o in res["lib"]]
                    tt = [median(o["times"]) for o in res["torch"]]
                    bd = [bound_of(w, g, n, steps, D) for g in res["gemm"]]
                    row = {
                        "work": w, "D": D, "prec": prec, "threads": th, "n": n, "steps": steps,
                        "lib": median(tl), "torch": median(tt),
                        "ratio": median([b / c for b, c in zip(tt, tl)]),
                        "lib_bound": median([c / b for c, b in zip(tl, bd)]),
                        "torch_bound": median([c / b for c, b in zip(tt, bd)]),
                        "lib_mb": max(o["maxrss_kb"] for o in res["lib"]) / 1024,
                        "lib_base_mb": min(o["base_kb"] for o in res["lib"]) / 1024,
                        "torch_mb": max(o["maxrss_kb"] for o in res["torch"]) / 1024,
                        "torch_base_mb": min(o["base_kb"] for o in res["torch"]) / 1024,
                        "load": max([load0] + [o["load"] for o in res["lib"] + res["torch"]]),
                    }
                    rows.append(row)
                    sz = f"{n}" + (f"x{steps}" if w != "train" else "")
                    print(f"{w:6} {D:4d} {prec:4} {th:3d} {sz:>14} {row['lib']:9.3f} "
                          f"{row['torch']:9.3f} {row['ratio']:8.2f}x {row['lib_bound']:8.2f} "
                          f"{row['torch_bound']:10.2f} "
                          f"{row['lib_mb']:6.0f} (+{row['lib_mb'] - row['lib_base_mb']:4.0f}) "
                          f"{row['torch_mb']:6.0f} (+{row['torch_mb'] - row['torch_base_mb']:4.0f}) "
                          f"{row['load']:5.1f}", flush=True)
                    if a.json:  # after every row, so an interrupted run keeps its rows
                        with open(a.json, "w") as f:
                            json.dump({"rows": rows, "processes": log}, f, indent=1)
    # The two-thread speed-ups of each side, from the rows' medians.
    print("2-thread speed-up (time at 1 thread / time at 2), per side:")
    for r1 in rows:
        if r1["threads"] != 1:
            continue
        for r2 in rows:
            if (r2["threads"] == 2 and r2["work"] == r1["work"] and r2["D"] == r1["D"]
                    and r2["prec"] == r1["prec"]):
                print(f"  {r1['work']:6} D = {r1['D']:3d} {r1['prec']}: lib "
                      f"{r1['lib'] / r2['lib']:.2f}x, torch {r1['torch'] / r2['torch']:.2f}x")
    versions = sorted({o["torch"] for o in log if "torch" in o} | {o["blis"] for o in log if "blis" in o})
    print(f"versions: {', '.join(versions)}; CPU: {cpu_model()}")
    print(f"torch_peer: done {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
          f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
