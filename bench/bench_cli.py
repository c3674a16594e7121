"""The command line's figures: `olvdm demo` wall time, seconds per step of each `olvdm train-*` command on its tiny
defaults, and one process against two gloo processes (torchrun) at the same global batch.

Each command runs as a fresh subprocess, exactly as a user would type it. Without `--checkpoints` (a folder with
vae_tiny.pt, slots_tiny.pt, olvdm_tiny.pt, lvdm_tiny.pt; default data/checkpoints if it has them), the demo runs on
checkpoints trained here for a few steps: the demo's time does not depend on how well they are trained.

    flock /tmp/olvdm-heavy.lock nice -n 5 python bench/bench_cli.py [--steps 10] [--threads 2]
    python bench/bench_cli.py --steps 2 --skip ddp        # quick check
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import torch

CLI = [sys.executable, '-m', 'olvdm.cli']
NAMES = dict(vae='vae_tiny.pt', slots='slots_tiny.pt', olvdm='olvdm_tiny.pt', lvdm='lvdm_tiny.pt')


def run(cmd, env=None):
    "Run `cmd`; return (seconds, stdout); raise with its stderr if it fails."
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if r.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return time.time() - t, r.stdout


def sec_per_step(out: Path) -> float:
    "Mean seconds per step logged in a run's checkpoint, leaving out the first logged window (warm-up)."
    h = torch.load(out / 'last.pt', map_location='cpu', weights_only=True)['history']
    rows = h[1:] or h
    return sum(r['sec_per_step'] for r in rows) / len(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=10, help='training steps timed per command')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--checkpoints', default=None, help='folder with the four demo checkpoints')
    p.add_argument('--data', default='sprites:64', help='training data of the timed runs')
    p.add_argument('--skip', default='', help="comma-separated parts to skip: train, demo, ddp")
    a = p.parse_args()
    skip, tmp = set(a.skip.split(',')) - {''}, Path(tempfile.mkdtemp())
    th = [f'train.threads={a.threads}', f'train.log_every={max(1, a.steps // 2)}']
    print(f"torch {torch.__version__}, {a.threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    try:
        # 1. each training command on its tiny defaults
        runs = [('train-vae', 'vae', []),
                ('train-slots', 'slots', ['--vae', tmp / 'vae' / 'vae.pt']),
                ('train-ldm', 'olvdm', ['--vae', tmp / 'vae' / 'vae.pt', '--slots', tmp / 'slots' / 'slots.pt', '--set', 'model.lam=0.1']),
                ('train-ldm', 'lvdm', ['--vae', tmp / 'vae' / 'vae.pt', '--slots', tmp / 'slots' / 'slots.pt', '--set', 'model.lam=0'])]
        need = 'demo' not in skip and not a.checkpoints and not all((Path('data/checkpoints') / n).exists() for n in NAMES.values())
        if 'train' not in skip or need:
            for cmd, name, extra in runs:
                args = [str(x) for x in extra]
                sets = th if '--set' in args else ['--set', *th]
                secs, _ = run(CLI + [cmd, a.data, '--out', str(tmp / name), '--steps', str(a.steps)] + args + sets)
                print(f"olvdm {cmd:11s} ({name:5s}) tiny defaults: {sec_per_step(tmp / name):.3f} s/step "
                      f"({a.steps} steps; {secs:.0f} s for the whole command)", flush=True)
        # 2. the demo
        if 'demo' not in skip:
            ck = Path(a.checkpoints) if a.checkpoints else Path('data/checkpoints')
            if not all((ck / n).exists() for n in NAMES.values()):
                ck = tmp / 'ck'; ck.mkdir(exist_ok=True)
                for k, src in dict(vae='vae/vae.pt', slots='slots/slots.pt', olvdm='olvdm/olvdm.pt', lvdm='lvdm/olvdm.pt').items():
                    shutil.copy(tmp / src, ck / NAMES[k])
            secs, out = run(CLI + ['demo', '--checkpoints', str(ck), '--out', str(tmp / 'demo'), '--threads', str(a.threads)])
            mt = json.loads((tmp / 'demo' / 'metrics.json').read_text())
            print(f"olvdm demo ({ck}): {secs:.1f} s wall for the whole command ({mt['seconds']} s inside run_demo: "
                  f"{mt['n_samples']} clips from each of 2 models, {mt['sampler']} {mt['sampling_steps']} steps)", flush=True)
        # 3. one process against two gloo processes, same global batch
        if 'ddp' not in skip:
            base = lambda out, n: ['train-vae', a.data, '--out', str(tmp / out), '--steps', str(a.steps), '--set', 'train.bs=8',
                                   f'train.log_every={max(1, a.steps // 2)}', f'train.threads={n}']
            run(CLI + base('p1', 2))
            run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'olvdm.cli'] + base('p2', 1),
                env=dict(OMP_NUM_THREADS='1'))
            s1, s2 = sec_per_step(tmp / 'p1'), sec_per_step(tmp / 'p2')
            print(f"train-vae, global batch 8: 1 process x 2 threads {s1:.3f} s/step; torchrun 2 processes x 1 thread (gloo) "
                  f"{s2:.3f} s/step ({s1 / s2:.2f}x)", flush=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()
