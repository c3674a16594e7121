"""VAE benchmarks: held-out PSNR of the tiny preset over CPU training time, and encode+decode throughput / peak memory.

Training (prints the held-out PSNR every `--every` minutes of training time, the 10- and 30-minute figures, saves the model):
    flock /tmp/olvdm-heavy.lock nice -n 5 python bench/bench_vae.py train --minutes 30 --every 2 --save_at 6 --out runs/vae_tiny.pt
The defaults are the recipe: `VAEConfig.tiny()`, AdamW lr 2e-3 (50 warmup steps, cosine to 0 over the run), batches of
8 random 4-frame windows of 16-frame 64x64 sprite clips, bf16 autocast; held-out PSNR on 32 whole 16-frame clips in fp32.
Training time is `--clock cpu` by default: this process's CPU seconds per torch thread, so that a run on a shared
(busy) machine still gets the 2-core minutes it reports; `--clock wall` counts wall-clock time. Both are printed.
On an oversubscribed machine (load well above 2) use `--threads 1`: two OpenMP threads then spend most of their CPU
time spinning at barriers while the other is descheduled (measured: 4.4 CPU s per step instead of 0.47), which makes
both the CPU clock and the wall clock meaningless; one thread runs a step in about 0.47 CPU s whatever the load.
Throughput and peak memory (each size in a fresh subprocess; peak memory is the process's max RSS):
    flock /tmp/olvdm-heavy.lock nice -n 5 python bench/bench_vae.py speed --ckpt runs/vae_tiny.pt
"""
import argparse, json, math, os, resource, subprocess, sys, time
from pathlib import Path

import torch
from einops import rearrange

from olvdm.core import set_seed
from olvdm.data import sprites_dls, SpritesDataset
from olvdm.learner import Callback, CancelFitException, Learner, MetricsCB, MixedPrecisionCB
from olvdm.evalsets import REAL_TRAIN, RealWindows, heldout_sprites, real_clips
from olvdm.vae import VAEConfig, VideoVAE, compute_scale_factor, load_vae, psnr, save_vae, vae_loss, vae_scores


class ClipCropCB(Callback):
    "Train on random `n_frames`-frame windows of each batch, randomly mirrored left-right; `real` (a `RealWindows`) replaces a `real_frac` of each batch with real footage."
    order = -5
    def __init__(self, n_frames, real=None, real_frac=0.): self.n, self.real, self.frac = n_frames, real, real_frac
    def before_batch(self, learn):
        if not learn.training: return
        x = learn.batch['video']                                     # b c f h w
        s = int(torch.randint(0, x.shape[2] - self.n + 1, ()))
        x = x[:, :, s:s + self.n]
        if torch.rand(()) < 0.5: x = x.flip(-1)
        k = round(len(x) * self.frac) if self.real is not None else 0
        if k: x = torch.cat([x[:len(x) - k], self.real.sample(k)])  # b c n_frames h w
        learn.batch = {'video': x}


def cpu_clock():
    "This process's CPU seconds (all threads) per torch thread: on a shared machine, the 2-core time the run really got."
    return time.process_time() / torch.get_num_threads()


class TimedCB(Callback):
    "Cosine lr decay over `minutes` of training time, a held-out PSNR every `every` minutes, stop at `minutes`."
    order = 20
    def __init__(self, valid: dict, minutes, every=1.0, warmup=50, log=print, clock=time.time, save=None, save_at=None):
        self.valid, self.total, self.every, self.warmup, self.log = valid, minutes * 60, every * 60, warmup, log
        self.clock, self.save, self.save_at = clock, save, save_at * 60 if save_at else None
        self.curve, self.losses = [], []
    def after_batch(self, learn):                                     # learn.logs is reset before each batch,
        if learn.training and 'loss' in learn.logs: self.losses.append(learn.logs['loss'])  # so keep the losses here
    def before_fit(self, learn):
        self.lr0, self.t0, self.paused, self.next = learn.opt.param_groups[0]['lr'], self.clock(), 0., 0.
        self.wall0 = time.time()
    def elapsed(self): return self.clock() - self.t0 - self.paused
    def before_batch(self, learn):
        if not learn.training: return
        t = self.elapsed()
        if t >= self.next:
            self.evaluate(learn, t)
            self.next += self.every
            if self.save_at is not None and t >= self.save_at:          # an early checkpoint others can use
                t1 = self.clock(); self.save(learn.model); self.paused += self.clock() - t1
                self.save_at = None
        if t >= self.total: raise CancelFitException()
        f = min(1., t / self.total)
        for g in learn.opt.param_groups:
            g['lr'] = self.lr0 * min(1., (learn.step + 1) / self.warmup) * 0.5 * (1 + math.cos(math.pi * f))
    @torch.no_grad()
    @torch.autocast('cpu', enabled=False)                             # evaluate in float32, also under MixedPrecisionCB
    def evaluate(self, learn, t):
        t1 = self.clock()
        m = learn.model.eval()
        sf = float(m.scale_factor)
        with torch.autocast('cpu', enabled=False): compute_scale_factor(m, learn.dls.train, max_batches=2)   # unit-variance latents for the noisy decode
        sc = vae_scores(m, self.valid)
        m.scale_factor.fill_(sf); m.train()
        loss = sum(self.losses[-20:]) / len(self.losses[-20:]) if self.losses else float('nan')   # mean of the last 20 steps
        wall = (time.time() - self.wall0) / 60
        self.curve.append(dict(minutes=round(t / 60, 2), step=learn.step, psnr=round(sc['heldout'], 3),
                               **{k: round(v, 3) for k, v in sc.items() if k != 'heldout'},
                               loss=round(loss, 5), wall_minutes=round(wall, 2), load=round(os.getloadavg()[0], 1)))
        self.log(f"{t / 60:6.2f} min  step {learn.step:5d}  PSNR " + '  '.join(f"{k} {v:5.2f}" for k, v in sc.items()) +
                 f" dB  train loss {loss:.4f}  (wall {wall:6.2f} min, load {os.getloadavg()[0]:.1f})", flush=True)
        self.paused += self.clock() - t1


def train(a):
    torch.set_num_threads(a.threads); set_seed(a.seed)
    dls = sprites_dls(n_train=a.n_train, n_valid=8, bs=a.bs, n_frames=16, size=64, preset=a.preset)
    t = time.time()
    for i in range(len(dls.train.dataset)): dls.train.dataset.clip(i)  # generate (and cache) the clips up front
    real = RealWindows(n_frames=a.frames) if a.real_frac else None
    valid = dict(heldout=torch.stack([o['video'] for o in heldout_sprites(a.n_valid)]),
                 novel=torch.stack([o['video'] for o in heldout_sprites(a.n_valid // 2, preset='novel')]),
                 real=real_clips())
    print(f"generated {a.n_train} training clips ({a.preset}), real windows from {REAL_TRAIN} ({a.real_frac:.0%} of each batch), "
          f"held-out sets { {k: tuple(v.shape) for k, v in valid.items()} } in {time.time() - t:.0f} s")
    cfg = VAEConfig.tiny(**json.loads(a.cfg))
    model = VideoVAE(cfg)
    print(cfg, f"\n{sum(p.numel() for p in model.parameters()):,} parameters; torch threads {torch.get_num_threads()}; "
          f"load before start {os.getloadavg()}")
    def save(m, n=4):
        with torch.autocast('cpu', enabled=False): sf = compute_scale_factor(m, dls.train, max_batches=n)
        m.train()
        save_vae(m, a.out); print(f"saved {a.out} (scale factor {sf:.4f})", flush=True)
    timed = TimedCB(valid, a.minutes, a.every, warmup=a.warmup, clock=dict(cpu=cpu_clock, wall=time.time)[a.clock],
                    save=save if a.out else None, save_at=a.save_at if a.out else None)
    cbs = [ClipCropCB(a.frames, real, a.real_frac), timed, MetricsCB()] + ([MixedPrecisionCB()] if a.bf16 else [])
    learn = Learner(model, dls, vae_loss, lr=a.lr, cbs=cbs,
                    opt_func=lambda ps, lr: torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.99), weight_decay=0.))
    learn.fit(10_000, valid=False)
    timed.evaluate(learn, timed.elapsed())
    c = timed.curve
    at = lambda m: max((r for r in c if r['minutes'] <= m + 0.05), key=lambda r: r['minutes'])
    print(f"held-out PSNR at 10 min: {at(10)['psnr']:.2f} dB (step {at(10)['step']}); at {a.minutes:g} min: {c[-1]['psnr']:.2f} dB "
          f"(step {c[-1]['step']}); novel {c[-1]['novel']:.2f} dB, real (bikes) {c[-1]['real']:.2f} dB, noisy decode {c[-1]['noisy']:.2f} dB")
    sf = compute_scale_factor(model, dls.train, max_batches=16)
    final = vae_scores(model, valid)
    print(f"scale factor {sf:.4f}; with it: " + ', '.join(f"{k} {v:.2f} dB" for k, v in final.items()))
    c[-1].update({k if k != 'heldout' else 'psnr': round(v, 3) for k, v in final.items()})
    if a.out:
        save_vae(model, a.out); print(f"saved {a.out}")
        Path(a.out).with_suffix('.json').write_text(json.dumps(dict(args=vars(a), curve=c, scale_factor=sf), indent=1))


def speed_one(a):
    "One size in this process: encode + decode clips/s and peak RSS (MiB)."
    torch.set_num_threads(a.threads)
    model = load_vae(a.ckpt) if a.ckpt else VideoVAE(VAEConfig.tiny())
    x = torch.rand(a.batch, 3, a.frames, 64, 64) * 2 - 1
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kw = dict(chunk=a.chunk) if a.chunk else {}
    with torch.no_grad():
        model.decode(model.encode(x[:1], **kw).mean, **kw)           # warm up
        t = time.time()
        for _ in range(a.reps): model.decode(model.encode(x, **kw).mean, **kw)
        dt = (time.time() - t) / a.reps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(frames=a.frames, batch=a.batch, chunk=a.chunk, clips_per_s=round(a.batch / dt, 3),
                          peak_rss_mib=round(rss / 1024), rss_before_mib=round(rss0 / 1024))))


def speed(a):
    rows = []
    for frames, chunk in [(16, 0), (64, 0), (64, 16)]:
        cmd = [sys.executable, __file__, 'speed_one', '--frames', str(frames), '--chunk', str(chunk), '--batch', str(a.batch),
               '--threads', str(a.threads), '--reps', str(a.reps)] + (['--ckpt', a.ckpt] if a.ckpt else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out)); print(out, flush=True)
    # agreement of chunked and whole results on a 64-frame clip
    torch.set_num_threads(a.threads)
    model = load_vae(a.ckpt) if a.ckpt else VideoVAE(VAEConfig.tiny())
    x = SpritesDataset(1, n_frames=64, seed=2_000_000)[0]['video'][None]
    with torch.no_grad():
        z = model.encode(x).mean
        r = model.decode(z)
        for ov in [None, 1, 0]:
            zc = model.encode(x, chunk=16, overlap=ov).mean
            rc = model.decode(zc, chunk=16, overlap=ov)
            print(f"chunk 16, overlap {ov if ov is not None else model.reach}: max |dz| {(zc - z).abs().max():.2e}, "
                  f"max |dx| {(rc - r).abs().max():.2e}, PSNR(whole vs chunked) {psnr(rc, r).mean():.1f} dB")


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('mode', choices=['train', 'speed', 'speed_one'])
    p.add_argument('--minutes', type=float, default=30); p.add_argument('--every', type=float, default=1.0)
    p.add_argument('--out', default='runs/vae_tiny.pt'); p.add_argument('--cfg', default='{}', help='VAEConfig.tiny overrides, JSON')
    p.add_argument('--lr', type=float, default=2e-3); p.add_argument('--bs', type=int, default=8)
    p.add_argument('--frames', type=int, default=4, help='train: frames per training window; speed_one: clip length')
    p.add_argument('--n_train', type=int, default=2048); p.add_argument('--n_valid', type=int, default=32, help='held-out varied clips (novel: half as many)')
    p.add_argument('--preset', default='varied', help='sprite preset of the training clips')
    p.add_argument('--real_frac', type=float, default=0.25, help='fraction of each batch replaced by real footage (RealWindows)')
    p.add_argument('--threads', type=int, default=2); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--ckpt', default=None); p.add_argument('--batch', type=int, default=4); p.add_argument('--chunk', type=int, default=0)
    p.add_argument('--reps', type=int, default=3); p.add_argument('--warmup', type=int, default=50)
    p.add_argument('--bf16', action=argparse.BooleanOptionalAction, default=False, help='train under bf16 autocast (MixedPrecisionCB); off: on a CPU without AVX-512-bf16/AMX bf16 conv3d takes a slow path (18x slower than float32 here)')
    p.add_argument('--clock', choices=['cpu', 'wall'], default='cpu',
                   help='training time: CPU seconds per torch thread (fair on a shared machine) or wall-clock seconds')
    p.add_argument('--save_at', type=float, default=0, help='train: also save --out once after this many minutes (0: only at the end)')
    a = p.parse_args()
    dict(train=train, speed=speed, speed_one=speed_one)[a.mode](a)
