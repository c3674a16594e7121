"""Slot object discovery on moving sprites: held-out FG-ARI over CPU training time, on frozen VAE latents.

Trains `LatentSlotModel` (olvdm.slots) on the latents of 64x64 sprite clips (`--preset`, default varied: 1-5 objects on backgrounds), and every `--every`
minutes of training time scores 32 held-out clips (seeds 1,000,000+, every 4th frame): FG-ARI on the latent grid
(true ids by majority vote), FG-ARI at pixels (masks upsampled bilinearly; and, with a VAE, upsampled guided by the
VAE's decoding of the latent, i.e. from latents alone, see `pixel_masks`), and slot identity
consistency; the same with the best of `--restarts` random starts per frame (`@r8`: lowest reconstruction error of
the latent, no labels; not with init='learned'); also, with slots carried over all 16 frames (`propagate=True`), FG-ARI on the grid and identity
consistency. At the end, the pixel-mask options (guide: decoded latents or the video; sigma; or the slot-image
mixture) are chosen on 8 other clips and scored on the held-out ones. Prints the curve, saves the model and a JSON
curve; `--eval_only` scores a saved model again.

    cp runs/vae_tiny.pt runs/slots_tiny_vae.pt   # keep the VAE the slot model is trained on
    python bench/bench_slots.py --vae runs/slots_tiny_vae.pt --minutes 30 --every 3 --threads 1 --out runs/slots_tiny.pt
    # score it again on the package's held-out sets (olvdm.evalsets: 128 varied clips from seed 5,000,000 and 64 novel ones; no choice was made on them)
    python bench/bench_slots.py --vae runs/slots_tiny_vae.pt --eval_only runs/slots_tiny.pt --n_valid 128 --valid_seed 5000000
    python bench/bench_slots.py --vae runs/slots_tiny_vae.pt --eval_only runs/slots_tiny.pt --n_valid 64 --valid_seed 5000000 --preset novel
    # without a VAE checkpoint, an interim stand-in latent (4x4 pixel-unshuffle, 48 channels):
    flock /tmp/olvdm-heavy.lock nice python bench/bench_slots.py --interim --minutes 30
"""
import argparse, json, math, os, time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from olvdm.core import DataLoaders, set_seed
from olvdm.data import SpritesDataset
from olvdm.learner import Callback, CancelFitException, GradClipCB, Learner
from olvdm.slot_metrics import segmentation_scores
from olvdm.slots import LatentSlotModel, SlotConfig, SlotLoss, latent_dataset, load_slots, pixel_masks, save_slots


class Unshuffle(nn.Module):
    "Interim stand-in for a VAE: each 4x4 block of pixels as 48 channels (lossless, not learned)."
    def __init__(self): super().__init__(); self.dummy = nn.Parameter(torch.zeros(()))
    def encode_latents(self, x):                                            # b 3 f h w -> b 48 f h/4 w/4
        return rearrange(F.pixel_unshuffle(rearrange(x, 'b c f h w -> (b f) c h w'), 4), '(b f) c h w -> b c f h w', b=len(x))


class TimedEvalCB(Callback):
    "Warmup then cosine lr over `minutes` of training time; held-out scores every `every` minutes; stop at `minutes`."
    order = 20
    def __init__(self, score, minutes, every=2.0, warmup=300, log=print):
        self.score, self.total, self.every, self.warmup, self.log, self.curve = score, minutes * 60, every * 60, warmup, log, []
    def before_fit(self, learn):
        self.lr0, self.t0, self.paused, self.next, self.losses = learn.opt.param_groups[0]['lr'], time.time(), 0., 0., []
        self.c0, self.cpu_paused = time.process_time(), 0.     # CPU seconds of this process, to report next to wall time
    def before_batch(self, learn):
        if not learn.training: return
        t = time.time() - self.t0 - self.paused
        if t >= self.next: self.evaluate(learn, t); self.next += self.every
        if t >= self.total: raise CancelFitException()
        for g in learn.opt.param_groups:
            g['lr'] = self.lr0 * min(1., (learn.step + 1) / self.warmup) * 0.5 * (1 + math.cos(math.pi * min(1., t / self.total)))
    def after_batch(self, learn):
        if learn.training and 'loss' in learn.logs: self.losses.append(learn.logs['loss'])
    def after_fit(self, learn):
        if not self.curve or self.curve[-1]['step'] != learn.step: self.evaluate(learn, time.time() - self.t0 - self.paused)
    def evaluate(self, learn, t):
        t1, c1 = time.time(), time.process_time()
        cpu = (c1 - self.c0 - self.cpu_paused) / 60 / torch.get_num_threads()   # core-minutes per thread used
        row = dict(minutes=round(t / 60, 2), cpu_minutes=round(cpu, 2), load=round(os.getloadavg()[0], 1), step=learn.step, loss=round(sum(self.losses[-200:]) / len(self.losses[-200:]), 5) if self.losses else float('nan'), **self.score(learn.model))
        self.curve.append(row)
        self.log('  '.join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        self.paused += time.time() - t1; self.cpu_paused += time.process_time() - c1


def pick_threads(cfg, z, steps=6):
    "The faster of 1 and 2 torch threads for training steps on latents `z` (a throwaway model)."
    times = {}
    for n in (2, 1, 2, 1):
        torch.set_num_threads(n)
        m = LatentSlotModel(cfg); opt = torch.optim.Adam(m.parameters())
        t = time.time()
        for _ in range(steps):
            loss = F.mse_loss(m(z)['recon'], z); opt.zero_grad(); loss.backward(); opt.step()
        times[n] = min(times.get(n, 1e9), (time.time() - t) / steps)
    print(f"seconds per step: {times}", flush=True)
    return min(times, key=times.get)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--vae', default='runs/vae_tiny.pt'); p.add_argument('--interim', action='store_true', help='pixel-unshuffle latents instead of a VAE')
    p.add_argument('--minutes', type=float, default=30); p.add_argument('--every', type=float, default=2.0)
    p.add_argument('--cfg', default='{}', help='SlotConfig.tiny overrides, JSON')
    p.add_argument('--lr', type=float, default=1e-3, help='peak lr (4e-4, the paper\'s, stays collapsed for the first ~1000 steps)')
    p.add_argument('--clip', type=float, default=0, help='gradient-norm clipping (0: none)')
    p.add_argument('--eval_iters', type=int, default=0, help='also score with this many slot-attention iterations')
    p.add_argument('--restarts', type=int, default=8, help="also score the best of this many random starts per frame (lowest latent reconstruction error; not with init='learned')")
    p.add_argument('--bs', type=int, default=16)
    p.add_argument('--n_frames', type=int, default=2, help='random frames per clip in each batch')
    p.add_argument('--n_train', type=int, default=512); p.add_argument('--n_valid', type=int, default=32)
    p.add_argument('--valid_seed', type=int, default=1_000_000, help='seed of the held-out clips (another one, with --eval_only: a fresh test set)')
    p.add_argument('--threads', type=int, default=0, help='torch threads; 0: time a few steps with 1 and 2 threads and keep the faster (on a busy machine 1 can win)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--preset', default='varied', help="sprite preset of every set ('novel' for a held-out test set with --eval_only)")
    p.add_argument('--out', default='runs/slots_tiny.pt')
    p.add_argument('--eval_only', default='', help='score this saved model (no training) and add final_scores to its JSON')
    a = p.parse_args()
    torch.set_num_threads(max(a.threads, 1)); set_seed(a.seed)
    if a.interim: vae = Unshuffle()
    else:
        from olvdm.vae import load_vae
        vae = load_vae(a.vae)
    t0 = time.time()
    kw = dict(n_frames=16, size=64, preset=a.preset)
    train = latent_dataset(vae, SpritesDataset(a.n_train if not a.eval_only else 1, seed=a.seed, **kw), bs=32)
    valid = latent_dataset(vae, SpritesDataset(a.n_valid, seed=a.valid_seed, **kw), bs=32, keep_video=True)
    f_t = getattr(getattr(vae, 'cfg', None), 'f_t', 1)             # latent frames per video frame
    print(f"latents: {train}, {valid} in {time.time() - t0:.0f} s")
    @torch.no_grad()
    def every4(d):
        "Every 4th frame: latents, instance maps, videos, and the decoded latents (decoded whole, then subsampled: with f_t > 1 neighbours matter)."
        dec = torch.cat([vae.decode_latents(z) for z in d['latent'].split(16)]) if not a.interim else None
        return (d['latent'][:, :, ::4 // f_t], d['mask'][:, ::4], d['video'][:, :, ::4],
                dec[:, :, ::4] if dec is not None else None)
    zv, mv, vv, dv = every4(valid.data)

    @torch.no_grad()
    def score(model):
        model.eval()
        s = {}
        for it in [None] + ([a.eval_iters] if a.eval_iters else []):
            out = model(zv, deterministic=True, iters=it)
            r = segmentation_scores(out['masks'], mv)
            if not a.interim and it is None:   # pixel masks from latents alone: guided by the VAE's decoding (sigma 0.1 kept: comparable with earlier curves)
                r['fg_ari_pixel_guided'] = segmentation_scores(out['masks'], mv, pixel_masks(out, video=dv, sigma=0.1))['fg_ari_pixel']
            s.update({(k if it is None else f"{k}@{it}"): v for k, v in r.items()})
        if a.restarts > 1 and model.random_start:   # best of `restarts` starts, chosen by reconstruction error
            out = model(zv, deterministic=True, restarts=a.restarts)
            r = segmentation_scores(out['masks'], mv)
            if not a.interim: r['fg_ari_pixel_guided'] = segmentation_scores(out['masks'], mv, pixel_masks(out, video=dv, sigma=0.1))['fg_ari_pixel']
            s.update({f"{k}@r{a.restarts}": v for k, v in r.items()})
        # slots carried over all 16 consecutive frames (propagate=True): identities over time
        r = segmentation_scores(model(valid.data['latent'], deterministic=True, propagate=True)['masks'], valid.data['mask'])
        s.update(fg_ari_grid_prop=r['fg_ari_grid'], identity_prop=r['identity'])
        model.train()
        return {k: round(v, 4) for k, v in s.items()}

    @torch.no_grad()
    def final_scores(model):
        "Held-out scores of the final model, pixel-mask options chosen on 8 other clips (seeds 2,000,000+)."
        model.eval()
        res = dict(score(model))
        if a.interim: return res
        tune = latent_dataset(vae, SpritesDataset(8, seed=2_000_000, **kw), bs=32, keep_video=True)
        zt, mt, vt, dt = every4(tune.data)
        ot, ov = model(zt, deterministic=True), model(zv, deterministic=True)
        options = {('guided', sg): dict(mode='guided', sigma=sg) for sg in (0.05, 0.1, 0.2, 0.4)}
        options.update({('slots', sg): dict(mode='slots', sigma=sg) for sg in (0.1, 0.3, 1.0)})
        for name, guide in (('decoded', None), ('video', True)):   # guide: VAE decoding of the latent, or the video
            for (mode, sg), o in options.items():
                if mode == 'slots' and guide is None: continue        # needs the video
                fit = segmentation_scores(ot['masks'], mt, pixel_masks(ot, vae, vt if guide else dt, **o))['fg_ari_pixel']
                res.setdefault('tuning', {})[f"{mode}/{name}/sigma={sg}"] = round(fit, 4)
        for prefix in ('guided/decoded', 'guided/video', 'slots/video'):
            best = max((k for k in res['tuning'] if k.startswith(prefix)), key=res['tuning'].get)
            o = dict(mode=prefix.split('/')[0], sigma=float(best.split('=')[1]))
            pm = pixel_masks(ov, vae, vv if prefix.endswith('video') else dv, **o)
            res[f"fg_ari_pixel_{prefix.replace('/', '_')}"] = round(segmentation_scores(ov['masks'], mv, pm)['fg_ari_pixel'], 4)
            res[f"sigma_{prefix.replace('/', '_')}"] = o['sigma']
            if prefix == 'guided/decoded' and a.restarts > 1 and model.random_start:
                ob = model(zv, deterministic=True, restarts=a.restarts)
                res[f"fg_ari_pixel_guided_decoded@r{a.restarts}"] = round(segmentation_scores(ob['masks'], mv, pixel_masks(ob, video=dv, **o))['fg_ari_pixel'], 4)
        return res

    if a.eval_only:
        model = load_slots(a.eval_only)
        js = Path(a.eval_only).with_suffix('.json')
        res = json.loads(js.read_text()) if js.exists() else {}
        key = 'final_scores' if (a.n_valid, a.valid_seed) == (32, 1_000_000) else f'final_scores_{a.preset}_{a.n_valid}clips_seed{a.valid_seed}'
        res[key] = final_scores(model)
        res[f'{key}_note'] = f"bench_slots.py --eval_only {a.eval_only} --vae {a.vae} --n_valid {a.n_valid} --valid_seed {a.valid_seed}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        js.write_text(json.dumps(res, indent=1))
        print(json.dumps(res[key], indent=1)); return

    cfg = SlotConfig.tiny(in_channels=train.data['latent'].shape[1], **json.loads(a.cfg))
    if a.threads == 0: a.threads = pick_threads(cfg, train.data['latent'][:a.bs, :, :a.n_frames])
    torch.set_num_threads(a.threads); set_seed(a.seed)
    model = LatentSlotModel(cfg)
    dls = DataLoaders.from_datasets(train, bs=a.bs)
    timed = TimedEvalCB(score, a.minutes, a.every)
    learn = Learner(model, dls, SlotLoss(n_frames=a.n_frames), lr=a.lr, cbs=[timed] + ([GradClipCB(a.clip)] if a.clip else []), opt_func=torch.optim.Adam, seed=a.seed)
    learn.fit(10_000, valid=False)
    save_slots(model, a.out)
    res = dict(args=vars(a), config=cfg.__dict__, latent='interim pixel-unshuffle' if a.interim else a.vae, curve=timed.curve)
    res['final_scores'] = final_scores(model)
    print(f"final scores: {res['final_scores']}")
    Path(a.out).with_suffix('.json').write_text(json.dumps(res, indent=1))
    print(f"saved {a.out}; final: {timed.curve[-1]}")


if __name__ == '__main__': main()
