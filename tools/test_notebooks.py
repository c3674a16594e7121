"""Run every notebook's tests (cells flagged `notest`, `gpu` or `slow` are skipped) and count them.

nbdev_test prints only `Success.`; this runs the same `nbdev.test.test_nb` on each notebook in parallel,
prints one line per notebook with its time, and ends with `N passed, N failed` (exit 1 on any failure).
Usage: python tools/test_notebooks.py [--flags "gpu slow"] [--path nbs/05_vae.ipynb] [--n_workers 2]
"""
import argparse, os, sys, time
from pathlib import Path

from fastcore.parallel import parallel
from nbdev.config import get_config
from nbdev.test import test_nb


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--path', default=None, help='one notebook, or a folder (default: the nbs folder)')
    p.add_argument('--flags', default='', help='space separated flags to run anyway, e.g. "slow"')
    p.add_argument('--n_workers', type=int, default=min(os.cpu_count() or 1, 2))
    a = p.parse_args()
    cfg = get_config()
    root = Path(a.path or cfg.nbs_path).absolute()
    files = [root] if root.is_file() else sorted(f for f in root.glob('*.ipynb') if not f.name.startswith('_'))
    skip, force = cfg.tst_flags.split(), a.flags.split()
    # One torch thread per worker so parallel notebooks do not fight over the cores.
    os.environ['OLVDM_FLAGS'] = a.flags                 # notebooks' opt-in long cells (FULL_RUN) run when their flag is forced
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // max(1, a.n_workers))))
    start = time.time()
    with_cwd = cfg.nbs_path
    os.chdir(with_cwd)
    results = parallel(test_nb, files, skip_flags=skip, force_flags=force, n_workers=a.n_workers,
                       basepath=cfg.config_path, pause=0.01, progress=False)
    for f, (ok, secs) in zip(files, results):
        print(f"{'PASS' if ok else 'FAIL'} {f.name} ({secs:.0f} s)")
    n_ok = sum(ok for ok, _ in results)
    print(f"notebooks: {n_ok} passed, {len(files) - n_ok} failed in {time.time() - start:.0f} s")
    sys.exit(0 if n_ok == len(files) else 1)


if __name__ == '__main__': main()
