#!/usr/bin/env python3
"""The redesign's reference runs: each config here (and the quickstart) through `slt run`, compared with expected/.

Usage: python3 tests/reference/check.py [record] [NAME ...]   (from the repository root, after a release build)
`record` writes expected/; otherwise every summary.json (timings dropped) and the listed CSVs must match
bit for bit, and the exit code must be the recorded one.
"""
import hashlib, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "reference")
EXPECTED = os.path.join(HERE, "expected")
CSVS = ["llc_trace.csv", "volume.csv", "hessian.csv", "train_log.csv"]


def configs():
    out = {os.path.splitext(f)[0]: os.path.join(HERE, f) for f in sorted(os.listdir(HERE)) if f.endswith(".toml")}
    out["quickstart"] = os.path.join(ROOT, "configs", "quickstart.toml")
    return out


def run(name, path, tmp):
    out = os.path.join(tmp, name)
    p = subprocess.run([os.path.join(ROOT, "target", "release", "slt"), "run", path, "--out", out, "--quiet"],
                       capture_output=True, text=True)
    rec = {"exit": p.returncode, "stderr": sorted(l for l in p.stderr.splitlines() if l.startswith("warning"))}
    sp = os.path.join(out, "summary.json")
    if os.path.exists(sp):
        s = json.load(open(sp))
        s.pop("timing_s", None)
        rec["summary"] = s
    for c in CSVS:
        cp = os.path.join(out, c)
        if os.path.exists(cp):
            rec[c] = hashlib.sha256(open(cp, "rb").read()).hexdigest()
    return rec


def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{path}.{k}: {'missing' if k not in b else 'new'}"
            else:
                yield from diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {a!r} -> {b!r}"


def main():
    args = sys.argv[1:]
    record = bool(args) and args[0] == "record"
    names = args[1:] if record else args
    todo = {k: v for k, v in configs().items() if not names or k in names}
    os.makedirs(EXPECTED, exist_ok=True)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in todo.items():
            rec = run(name, path, tmp)
            exp_path = os.path.join(EXPECTED, name + ".json")
            if record:
                json.dump(rec, open(exp_path, "w"), indent=1, sort_keys=True, ensure_ascii=False)
                print(f"{name}: recorded (exit {rec['exit']})")
                continue
            exp = json.load(open(exp_path))
            d = list(diff(exp, json.loads(json.dumps(rec))))
            print(f"{name}: {'same' if not d else 'DIFFERS'}")
            for line in d[:40]:
                print("   ", line)
            bad += bool(d)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
