"""How much of an ablation's difference is sampling noise: sample trained checkpoints with several seeds.

For each checkpoint (OLVDM or its λ = 0 baseline, e.g. the ones `bench_ablation.py` saves), draws `--n` clips with
each of `--seeds` sampling seeds and measures them against the same held-out real sprite clips as the ablation
(seeds 1,000,000+): relative flicker, sharpness ratio and Fréchet distance on VAE features, all through the VAE and
slot module stored in the first checkpoint. Prints, per checkpoint, each seed's figures and their mean and standard
deviation, and the per-seed difference of every checkpoint from the first one (paired: the same seed means the same
starting noise for every model).

    python bench/bench_seeds.py runs/lvdm_tiny_D.pt runs/olvdm_tiny_D.pt runs/olvdm_tiny_D3.pt --seeds 1,2,3,4 --n 32
"""
import argparse, json, os, statistics, time
from pathlib import Path

import torch

from olvdm.data import SpritesDataset
from olvdm.evaluate import clip_stats, compare_stats
from olvdm.model import load_olvdm


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('ckpts', nargs='+', help='OLVDM checkpoints (the first is the reference for the paired differences)')
    p.add_argument('--seeds', default='1,2,3,4', help='sampling seeds, comma-separated')
    p.add_argument('--n', type=int, default=32, help='clips per seed'); p.add_argument('--steps', type=int, default=20)
    p.add_argument('--sampler', default='dpmpp_2m'); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='JSON file for the figures')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(',')]
    models = {c: load_olvdm(c) for c in a.ckpts}
    ref = models[a.ckpts[0]]
    ds = SpritesDataset(a.n, seed=1_000_000, n_frames=16, size=64, n_objects=(1, 4))   # the ablation's real set 1
    real = torch.stack([ds[i]['video'] for i in range(a.n)])
    kw = dict(propagate=ref.cfg.slot_propagate)
    st_real = clip_stats(real, ref.vae, ref.slots, **kw)
    keys = ('flicker_rel', 'sharpness_rel', 'fd_vae')
    res, t0 = {}, time.time()
    for c, m in models.items():
        res[c] = {'lam': m.cfg.lam, 'per_seed': {}}
        for s in seeds:
            v = m.sample(a.n, steps=a.steps, sampler=a.sampler, seed=s, progress=False)
            res[c]['per_seed'][s] = {k: compare_stats(clip_stats(v, ref.vae, ref.slots, **kw), st_real)[k] for k in keys}
            print(f"{c} (λ={m.cfg.lam}) seed {s}: " + ', '.join(f"{k} {res[c]['per_seed'][s][k]:.3f}" for k in keys), flush=True)
    print(f"\n{len(seeds)} seeds x {a.n} clips, {a.sampler} {a.steps} steps, {time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f}")
    for c in a.ckpts:
        ps = res[c]['per_seed']
        for k in keys:
            xs = [ps[s][k] for s in seeds]
            d = [ps[s][k] - res[a.ckpts[0]]['per_seed'][s][k] for s in seeds]
            res[c][k] = dict(mean=statistics.mean(xs), sd=statistics.stdev(xs) if len(xs) > 1 else 0.,
                             diff_mean=statistics.mean(d), diff_sd=statistics.stdev(d) if len(d) > 1 else 0.)
        print(f"{c:34s} λ={res[c]['lam']:<5} " + '  '.join(
            f"{k} {res[c][k]['mean']:.3f} ± {res[c][k]['sd']:.3f} (vs first {res[c][k]['diff_mean']:+.3f} ± {res[c][k]['diff_sd']:.3f})" for k in keys))
    if a.out: Path(a.out).write_text(json.dumps(dict(args=vars(a), results=res), indent=1))


if __name__ == '__main__': main()
