"""Speed references for devinterp SGLD on CPU (single process), on slt's own bench workloads.

The workload is read from the same TOML file `slt bench` runs (configs/bench/*.toml: model, data
size, noise, nβ, ε, γ, batch, chains), so both sides are defined once; only the peer's number of
draws is its own (--draws), as it is about 100× slower.

  --case mlp : MLP din->hidden->dout (ReLU, biases; default 10->64->10, 1354 params),
               n=1000, batch 100 (--din/--hidden/--dout/--batch/--chains/--draws change them),
               estimate_learning_coeff_with_summary, 4 chains x 1000 draws (no burn-in).
  --case tms : toy model of superposition, W 2x6, b 6, x_hat = ReLU(W^T W x + b),
               n=1000 one-hot inputs (exactly one of 6 features = 1, as devinterp's
               TMS notebook), MSE; trained with Adam, then LLC with 4 chains x 1000 draws.
  --case raw : the same MLP workload as a hand-written torch SGLD loop (no devinterp),
               to separate library overhead from torch compute.
Writes one JSON to --out.  Run under `/usr/bin/time -v` for peak RSS.
"""
import argparse
import json
import tomllib
import math
import os
import time
import warnings

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from devinterp.optim.sgld import SGLD
from devinterp.slt.sampler import estimate_learning_coeff_with_summary
from devinterp.utils import evaluate_mse

warnings.filterwarnings("ignore")
N, BATCH, CHAINS, DRAWS = 1000, 100, 4, 1000
DIN, HIDDEN, DOUT = 10, 64, 10


def make_mlp():
    return nn.Sequential(nn.Linear(DIN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, DOUT))


def mlp_problem(seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model, teacher = make_mlp(), make_mlp()
    x = torch.randn(N, DIN, generator=g)
    with torch.no_grad():
        y = teacher(x) + 0.1 * torch.randn(N, DOUT, generator=g)
    return model, x, y


class TMS(nn.Module):
    def __init__(self, n_features=6, n_hidden=2):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_hidden, n_features) * 0.1)
        self.b = nn.Parameter(torch.zeros(n_features))

    def forward(self, x):  # x: (batch, n_features)
        return torch.relu(x @ self.W.T @ self.W + self.b)


def tms_problem(seed, train_steps=3000):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    idx = torch.randint(0, 6, (N,), generator=g)
    x = torch.nn.functional.one_hot(idx, 6).float()
    model = TMS()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(train_steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()
    return model, x, x.clone(), float(loss)


def run_devinterp(model, x, y, lr, gamma, seed):
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    nbeta = N / math.log(N)
    t0 = time.perf_counter()
    res = estimate_learning_coeff_with_summary(
        model, loader=loader, evaluate=evaluate_mse, sampling_method=SGLD,
        optimizer_kwargs=dict(lr=lr, localization=gamma, nbeta=nbeta),
        num_chains=CHAINS, num_draws=DRAWS, num_burnin_steps=0,
        seed=seed, device="cpu", verbose=False)
    wall = time.perf_counter() - t0
    return wall, dict(llc_mean=res["llc/mean"], llc_std=res["llc/std"],
                      llc_per_chain=[res[f"llc-chain/{i}"] for i in range(CHAINS)],
                      nbeta=nbeta, lr=lr, localization=gamma)


def run_raw(model, x, y, lr, gamma, seed):
    """Plain SGLD (Lau et al. update) with a tensor-slicing minibatcher."""
    torch.manual_seed(seed)
    nbeta = N / math.log(N)
    w0 = [p.detach().clone() for p in model.parameters()]
    t0 = time.perf_counter()
    for chain in range(CHAINS):
        params = [w.clone().requires_grad_(True) for w in w0]
        m = make_mlp()
        for p, w in zip(m.parameters(), params):
            p.data = w.data
        perm = torch.randperm(N)
        for step in range(DRAWS):
            if step % (N // BATCH) == 0:
                perm = torch.randperm(N)
            b = perm[(step % (N // BATCH)) * BATCH:][:BATCH]
            loss = torch.nn.functional.mse_loss(m(x[b]), y[b])
            m.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p, w in zip(m.parameters(), w0):
                    drift = nbeta * p.grad + gamma * (p - w)
                    p.add_(-0.5 * lr * drift + math.sqrt(lr) * torch.randn_like(p))
    return time.perf_counter() - t0, dict(nbeta=nbeta, lr=lr, localization=gamma)


def from_config(path):
    """The workload of an slt bench config: (case, sizes, step, gamma, nbeta, batch, chains, n)."""
    with open(path, "rb") as f:
        c = tomllib.load(f)
    kind, llc = c["model"]["kind"], c["llc"]
    if kind == "mlp":
        widths = c["model"]["widths"]
        if len(widths) != 3:
            raise SystemExit(f"{path}: model.widths = {widths}: the peer runs one hidden layer")
        case = "mlp"
    elif kind == "tms":
        if (c["model"].get("features", 6), c["model"].get("hidden", 2)) != (6, 2):
            raise SystemExit(f"{path}: the peer's toy model is 6 features, 2 hidden")
        widths, case = [6, 2, 6], "tms"
    else:
        raise SystemExit(f"{path}: model.kind = {kind!r}: the peer runs mlp and tms")
    return dict(case=case, widths=widths, n=c["data"]["n"], lr=float(llc["step_size"]),
                gamma=float(llc["localization"]), nbeta=float(llc["nbeta"]),
                batch=int(llc["batch"]), chains=int(llc["chains"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", help="an slt bench config (configs/bench/*.toml): the workload")
    ap.add_argument("--case", choices=["mlp", "tms", "raw"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--din", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--dout", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    a = ap.parse_args()
    global DIN, HIDDEN, DOUT, BATCH, CHAINS, DRAWS, N
    DIN, HIDDEN, DOUT, BATCH, CHAINS, DRAWS = a.din, a.hidden, a.dout, a.batch, a.chains, a.draws
    lr, gamma = None, None
    if a.config:
        w = from_config(a.config)
        a.case = a.case if a.case == "raw" else w["case"]
        DIN, HIDDEN, DOUT = w["widths"]
        BATCH, CHAINS, N, lr, gamma = w["batch"], w["chains"], w["n"], w["lr"], w["gamma"]
    if a.case is None:
        ap.error("give --config or --case")
    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    extra = {}
    if a.case == "tms":
        model, x, y, train_loss = tms_problem(a.seed)
        extra["tms_train_loss"] = train_loss
        wall, info = run_devinterp(model, x, y, lr=lr or 1e-3, gamma=gamma or 1.0, seed=a.seed)
    else:
        model, x, y = mlp_problem(a.seed)
        fn = run_raw if a.case == "raw" else run_devinterp
        wall, info = fn(model, x, y, lr=lr or 1e-4, gamma=gamma or 100.0, seed=a.seed)
    steps = CHAINS * DRAWS
    out = dict(case=a.case, threads=a.threads, chains=CHAINS, draws_per_chain=DRAWS, n=N,
               batch=BATCH, params=sum(p.numel() for p in model.parameters()),
               wall_s=wall, steps_per_s=steps / wall, s_per_1000_steps=1000 * wall / steps,
               loadavg_before=load_before, loadavg_after=os.getloadavg(),
               torch=torch.__version__, **info, **extra)
    print(json.dumps(out))
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
