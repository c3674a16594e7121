"""The generator's sample quality against training compute: train `olvdm train-ldm` in chunks, score each chunk's model.

Training runs the package's own command (resumable: the run folder's last.pt), `--chunk` minutes at a time; after each
chunk the model (its EMA weights, OUT/olvdm.pt) samples `--n` clips with DPM-Solver++ (`--sample_steps`) from fixed
seeds and they are compared with held-out sprite clips (`olvdm.evalsets.heldout_sprites`, never trained on):
flicker / real, sharpness / real, Fréchet distance on VAE-encoder features (FD) and its floor, the FD between two
disjoint held-out real sets of the same size. Training time is the training process's CPU seconds / its threads
(2-core minutes), summed over the chunks in OUT/compute.json, so a run interrupted and resumed reports the compute it got.
One line per evaluation goes to `--results` (JSON lines); `--grid` writes a PNG of 16 samples beside 16 real clips.

    # one recipe, 60 minutes of training in 10-minute chunks, scored after each
    python bench/bench_generator.py runs/latents2048 --out runs/gen --minutes 60 --chunk 10 --steps 6000
    # the same command again resumes where it stopped
    python bench/bench_generator.py runs/latents2048 --out runs/gen_v --minutes 8 --chunk 8 --steps 900 --set model.parameterization=v
    # the generator's data: `olvdm encode sprites:2048 --set data.sprites=flat ...`, judged on held-out flat clips
    python bench/bench_generator.py runs/flat2048 --out runs/gen_flat --preset flat --minutes 60 --chunk 10 --steps 6000
    # score a checkpoint only (here with 100 ancestral DDPM steps instead of DPM-Solver++ 20)
    python bench/bench_generator.py --score runs/flat60/olvdm.pt --preset flat --sampler ddpm --sample_steps 100 --tag "flat60 ddpm-100"
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path

import torch

from olvdm.data import SpritesDataset
from olvdm.evalsets import EVAL_SEED, heldout_sprites
from olvdm.evaluate import clip_stats, compare_stats, frechet_distance
from olvdm.model import load_olvdm

VAE, SLOTS = 'data/checkpoints/vae_tiny.pt', 'data/checkpoints/slots_tiny.pt'


def real_sets(n, preset='varied'):
    "Two disjoint held-out sets of `n` clips of `preset`: the reference (with masks) and the one that gives the FD floor."
    ref = heldout_sprites(n, preset=preset)
    other = SpritesDataset(n, n_frames=16, size=64, seed=EVAL_SEED + 100_000, preset=preset)
    stack = lambda ds, k: torch.stack([ds[i][k] for i in range(n)])
    return stack(ref, 'video'), stack(ref, 'mask'), stack(other, 'video')


def sample_clips(model, n, steps, seed, bs=16, sampler='dpmpp_2m'):
    "`n` clips from seeds seed, seed+1, ... (one per batch of `bs`): the same starting noise for every model of the same shape."
    t, out = time.time(), []
    for i in range(0, n, bs):
        out.append(model.sample(min(bs, n - i), steps=steps, sampler=sampler, seed=seed + i // bs, progress=False))
    return torch.cat(out), (time.time() - t) / n


def score(model, real, floor_set, n, steps, seed, sampler='dpmpp_2m'):
    "Metrics of `n` samples of `model` against the held-out real clips; the FD floor; the samples."
    torch.manual_seed(0)
    video, sec = sample_clips(model, n, steps, seed, sampler=sampler)
    vae, slots = model.vae, model.slots
    st_real, st_other = clip_stats(real[0], vae, slots, real[1]), clip_stats(floor_set, vae, slots)
    m = compare_stats(clip_stats(video, vae, slots), st_real)
    m['fd_floor'] = frechet_distance(st_other['features'], st_real['features'])
    m['fd_ratio'] = m['fd_vae'] / m['fd_floor']
    m['sample_seconds_per_clip'] = round(sec, 3)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}, video


def save_grid(samples, real, path, title):
    "PNG: 16 sampled clips (left) and 16 real ones (right), each clip a row of 4 frames (0, 5, 10, 15)."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from einops import rearrange
    pick = lambda v: rearrange((v[:16, :, [0, 5, 10, 15]].clamp(-1, 1) + 1) / 2, '(r k) c f h w -> (r h) (k f w) c', k=2)
    fig, axs = plt.subplots(1, 2, figsize=(12, 6.9))
    for ax, v, name in zip(axs, (samples, real), ('samples', 'held-out real clips')):
        ax.imshow(pick(v).numpy(), interpolation='nearest'); ax.set_axis_off()
        ax.set_title(f'{name}: 16 clips, frames 0, 5, 10, 15 left to right')
    fig.suptitle(title); fig.tight_layout(); fig.savefig(path, dpi=80); plt.close(fig)


def train_chunk(a, minutes):
    "One chunk of `olvdm train-ldm` in a subprocess; returns its CPU seconds / threads (2-core seconds)."
    cmd = [sys.executable, '-m', 'olvdm.cli', 'train-ldm', a.data, '--vae', a.vae, '--slots', a.slots, '--out', a.out,
           '--config', a.config, '--set', f'train.steps={a.steps}', f'train.minutes={minutes:.3f}', f'train.threads={a.threads}',
           f'train.seed={a.seed}', *a.set]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / a.threads


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data', nargs='?', help='training data for train-ldm (an `olvdm encode` folder)')
    p.add_argument('--out', help='run folder (reuse it to resume)'); p.add_argument('--config', default='configs/ldm_tiny.yaml')
    p.add_argument('--set', nargs='*', default=[], help='train-ldm config overrides, SECTION.KEY=VALUE')
    p.add_argument('--steps', type=int, default=6000, help='train.steps: the length of the lr schedule')
    p.add_argument('--minutes', type=float, default=60, help='training budget in 2-core minutes (CPU time / threads)')
    p.add_argument('--chunk', type=float, default=10, help='minutes of training between two scores')
    p.add_argument('--threads', type=int, default=2); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--vae', default=VAE); p.add_argument('--slots', default=SLOTS)
    p.add_argument('--n', type=int, default=64, help='clips sampled per score'); p.add_argument('--sample_steps', type=int, default=20)
    p.add_argument('--sampler', default='dpmpp_2m', help="dpmpp_2m (the protocol's), ddim or ddpm (ancestral)")
    p.add_argument('--sample_seed', type=int, default=1000)
    p.add_argument('--preset', default='varied', help='sprite preset of the held-out clips (that of the training data)')
    p.add_argument('--score', help='only score this checkpoint'); p.add_argument('--tag', default='')
    p.add_argument('--results', default='bench/results/generator.jsonl'); p.add_argument('--grid', help='PNG of samples vs real (last score)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    real = real_sets(a.n, a.preset)
    real_all, floor_set = (real[0], real[1]), real[2]

    def record(ckpt, extra):
        model = load_olvdm(ckpt)
        m, video = score(model, real_all, floor_set, a.n, a.sample_steps, a.sample_seed, a.sampler)
        row = dict(tag=a.tag, checkpoint=str(ckpt), steps=model.meta.get('steps'), preset=a.preset, **extra, **m,
                   config={k: v for k, v in vars(model.cfg).items() if k in ('parameterization', 'loss_type', 'min_snr', 'schedule', 'lam', 'ema_decay')},
                   n_samples=a.n, sampler=a.sampler, sample_steps=a.sample_steps, date=time.strftime('%Y-%m-%dT%H:%M:%S'))
        print(json.dumps(row), flush=True)
        with open(a.results, 'a') as f: f.write(json.dumps(row) + '\n')
        if a.grid: save_grid(video, real_all[0], a.grid, f"{a.tag or ckpt}: step {row['steps']}, FD/floor {m['fd_ratio']:.2f}, flicker/real {m['flicker_rel']:.2f}")
        return row

    if a.score:
        record(a.score, {})
        return
    if not (a.data and a.out): p.error('give DATA and --out (or --score CKPT)')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    book = out / 'compute.json'
    done = json.loads(book.read_text())['cpu_minutes'] if book.exists() else 0.
    while done < a.minutes - 0.05:
        secs = train_chunk(a, min(a.chunk, a.minutes - done))
        done += secs / 60
        book.write_text(json.dumps(dict(cpu_minutes=done, threads=a.threads)))
        row = record(out / 'olvdm.pt', dict(cpu_minutes=round(done, 2), run=str(out), set=a.set))
        if (row['steps'] or 0) >= a.steps: break


if __name__ == '__main__': main()
