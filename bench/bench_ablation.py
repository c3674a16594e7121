"""The OLVDM ablation: the LVDM baseline (λ = 0) against OLVDM (λ > 0), same seed, same data, same time budget.

Both arms use the same frozen VAE and slot module (runs/vae_tiny.pt, runs/slots_tiny.pt), the same latents of
16x64x64 moving-sprite clips (encoded once), the same initial UNet weights and the same timestep/noise sequence
(olvdm.model.train_ldm with the same seed). By default the two arms train side by side, one process each with half
the threads, so that both see the same machine load in the same minutes (a shared machine would otherwise favour
whichever arm ran in the quieter minutes). Each arm trains for `--minutes` of wall time (or `--steps`), is saved
(runs/lvdm_tiny.pt, runs/olvdm_tiny.pt), then samples `--n` clips from its EMA weights with the same seed, and the
clips are measured against held-out real clips (olvdm.evaluate): flicker (and its ratio to real clips), sharpness
(Laplacian variance, and its ratio), slot label stability and slot match identity (through the frozen VAE and
slots, same as for real clips), and the Fréchet distance on VAE-encoder features (with the real-vs-real distance
between two disjoint real sets of the same size as the floor). Also a held-out diffusion loss and consistency
term on fixed t and noise for both arms. Prints a table; writes everything (and the training curves) to `--out`.

    flock /tmp/olvdm-heavy.lock nice -n 5 python bench/bench_ablation.py --minutes 10.5 --lam 0.1 --t_max 400
    # quick check of the script
    python bench/bench_ablation.py --steps 5 --n 4 --n_train 16 --sample_steps 5 --tag _smoke
"""
import argparse, json, os, platform, subprocess, sys, time
from datetime import datetime, timezone
from dataclasses import replace
from pathlib import Path

import torch

from olvdm.core import set_seed
from olvdm.data import SpritesDataset
from olvdm.diffusion import diffusion_loss
from olvdm.evaluate import clip_stats, compare_stats, frechet_distance
from olvdm.model import OLVDM, OLVDMConfig, frame_slots, save_olvdm, train_ldm
from olvdm.slots import latent_dataset, load_slots
from olvdm.vae import load_vae


def file_info(p):
    p = Path(p)
    return dict(path=str(p), modified=datetime.fromtimestamp(p.stat().st_mtime, timezone.utc).isoformat(timespec='seconds'),
                bytes=p.stat().st_size)


def heldout_losses(model, z, t_max, seed=0):
    """Diffusion loss and consistency term (unweighted) on latents `z` at fixed t < t_max and noise, for the UNet and its EMA;
    and for the UNet the gradient norm of each term, to see what share of the update λ gives the consistency term."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, t_max, (len(z),), generator=g)
    noise = torch.randn(z.shape, generator=g)
    out = {}
    for name in ('unet', 'ema'):
        net = getattr(model, name)
        with torch.enable_grad():
            d = diffusion_loss(net, z, model.schedule, model.cfg.parameterization, model.cfg.loss_type, t=t, noise=noise)
            cons = model.cfg.consistency.loss(frame_slots(model, d.x0_hat)[0])
            if name == 'unet':
                ps = list(net.parameters())
                norm = lambda loss: torch.sqrt(sum(g.pow(2).sum() for g in torch.autograd.grad(loss, ps, retain_graph=True))).item()
                out['grad_norm_diffusion'], out['grad_norm_consistency'] = norm(d.loss), norm(cons)
        out[f'{name}_diffusion'], out[f'{name}_consistency'] = d.loss.item(), cons.item()
    return out


def warm_up(vae, slots, cfg, z, n=3):
    "A few OLVDM training steps on a throwaway model, so that neither arm pays the kernels' first-call cost."
    m = OLVDM(vae, slots, replace(cfg, lam=max(cfg.lam, 0.1), t_max=cfg.T))
    for _ in range(n): m.loss({'latent': z})['loss'].backward()


def arm_config(a, arm):
    "Name and OLVDMConfig of arm 0 (baseline, λ = 0) or 1 (OLVDM, λ = a.lam)."
    cons = dict(variant=a.variant, **({'tau': a.tau} if a.tau is not None else {}))
    name = 'lvdm (λ=0)' if arm == 0 else f'olvdm (λ={a.lam})'
    return name, getattr(OLVDMConfig, a.unet)(lam=0. if arm == 0 else a.lam, t_max=a.t_max, consistency=cons, slot_propagate=bool(a.propagate),
                                                   balance=a.balance, slot_carry_grad=bool(a.carry_grad))


def run_arm(a, arm, vae, slots, train, z_held, command):
    "Train one arm, save its checkpoint, sample `a.n` clips: (name, info, curve, samples)."
    name, cfg = arm_config(a, arm)
    warm_up(vae, slots, cfg, train.data['latent'][:a.bs])
    set_seed(a.seed)
    model = OLVDM(vae, slots, cfg)
    t0, load0 = time.time(), os.getloadavg()
    learn = train_ldm(model, train, steps=a.steps, minutes=a.minutes, bs=a.bs, lr=a.lr, warmup=a.warmup, seed=a.seed, progress=False)
    secs, tr = time.time() - t0, learn.budget.trace
    last = lambda k: sum(r[k] for r in tr[-50:]) / len(tr[-50:])
    ckpt = f"runs/{'lvdm' if arm == 0 else 'olvdm'}_{a.unet}{a.tag}.pt"
    info = dict(steps=learn.step, train_seconds=round(secs, 1), sec_per_step=round(secs / max(1, learn.step), 3), threads=torch.get_num_threads(),
                final_loss=last('loss'), final_diffusion=last('diffusion'), final_consistency=last('consistency'),
                gated=last('gated'), load_start=load0, load_end=os.getloadavg(), checkpoint=ckpt, **heldout_losses(model, z_held, a.t_max))
    save_olvdm(model, ckpt, steps=learn.step, train_seconds=secs, vae=a.vae, slots=a.slots, data='SpritesDataset 16x64x64 (1-4 objects)',
               n_train=a.n_train, seed=a.seed, command=command)
    t0 = time.time()
    v = model.sample(a.n, steps=a.sample_steps, sampler=a.sampler, seed=a.seed + 1, progress=False)
    info['sample_seconds_per_clip'] = round((time.time() - t0) / a.n, 3)
    curve = [{k: round(r[k], 5) if isinstance(r[k], float) else r[k] for k in ('step', 'seconds', 'loss', 'diffusion', 'consistency', 'gated')} for r in tr]
    print(f"{name}: {learn.step} steps in {secs:.0f} s ({info['sec_per_step']:.2f} s/step), last-50 diffusion {info['final_diffusion']:.4f}, "
          f"consistency {info['final_consistency']:.4f}; held-out (EMA) diffusion {info['ema_diffusion']:.4f} consistency {info['ema_consistency']:.4f}; "
          f"grad norms diffusion {info['grad_norm_diffusion']:.3g} consistency {info['grad_norm_consistency']:.3g}; "
          f"sampling {info['sample_seconds_per_clip']:.2f} s/clip", flush=True)
    return name, info, curve, v


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--vae', default='runs/vae_tiny.pt'); p.add_argument('--slots', default='runs/slots_tiny.pt')
    p.add_argument('--minutes', type=float, default=None, help='training wall time per arm')
    p.add_argument('--steps', type=int, default=None, help='optimizer steps per arm (with --minutes: whichever first)')
    p.add_argument('--lam', type=float, default=0.1, help='λ of the OLVDM arm')
    p.add_argument('--t_max', type=int, default=400); p.add_argument('--tau', type=float, default=None)
    p.add_argument('--propagate', type=int, default=1, help='1: the slot encoder carries slots from frame to frame (SAVi), in the loss and in '
                   'the measures; 0: slots of each frame on their own (deterministic init)')
    p.add_argument('--balance', default='grad', choices=['grad', 'none'], help="'grad': λ is the ratio of the term's gradient norm to the diffusion loss's at the UNet output; 'none': λ · loss")
    p.add_argument('--carry_grad', type=int, default=0, help='1: the loss gradient also flows back through the slots carried from frame to frame')
    p.add_argument('--variant', default='object'); p.add_argument('--unet', default='tiny', choices=['tiny', 'small'])
    p.add_argument('--bs', type=int, default=8); p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--warmup', type=int, default=100)
    p.add_argument('--n_train', type=int, default=512); p.add_argument('--n', type=int, default=32, help='clips sampled per arm')
    p.add_argument('--sampler', default='dpmpp_2m'); p.add_argument('--sample_steps', type=int, default=20)
    p.add_argument('--threads', type=int, default=2, help='torch threads in all (split between the arms when they run side by side)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--arms', default='0,1', help='which arms: 0 = baseline, 1 = OLVDM')
    p.add_argument('--sequential', action='store_true', help='train the arms one after the other (default: side by side, one process each, '
                   'so both see the same machine load during the same minutes)')
    p.add_argument('--tag', default='', help='suffix for the output files (checkpoints and JSON)')
    p.add_argument('--out', default=None, help='JSON path (default runs/ablation{tag}.json)')
    p.add_argument('--worker', type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.minutes is None and a.steps is None: p.error('give --minutes or --steps (or both)')
    arms = list(map(int, a.arms.split(',')))
    side = len(arms) > 1 and not a.sequential
    torch.set_num_threads(max(1, a.threads // len(arms)) if side or a.worker is not None else a.threads)
    prep_path, command = Path(f'runs/.ablation{a.tag}_prep.pt'), 'python ' + ' '.join(sys.argv)
    vae, slots = load_vae(a.vae), load_slots(a.slots)
    if a.worker is not None:                                               # one arm in its own process
        prep = torch.load(prep_path, weights_only=False)
        name, info, curve, v = run_arm(a, a.worker, vae, slots, prep['train'], prep['z_held'], prep['command'])
        torch.save(dict(name=name, info=info, curve=curve, samples=v), f'runs/.ablation{a.tag}_arm{a.worker}.pt')
        return

    out_json = Path(a.out or f'runs/ablation{a.tag}.json')
    t_start = time.time()
    res = dict(date=datetime.now(timezone.utc).isoformat(timespec='seconds'), command=command,
               machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
               mode='side by side, one process per arm' if side else 'sequential', load_start=os.getloadavg(), args=vars(a),
               vae=file_info(a.vae), slots=file_info(a.slots), vae_scale_factor=float(vae.scale_factor), arms={}, metrics={}, curves={})
    print(f"VAE {a.vae} ({res['vae']['modified']}, scale {float(vae.scale_factor):.3f}), slots {a.slots} ({res['slots']['modified']}); "
          f"load {os.getloadavg()[0]:.1f}; arms {res['mode']}", flush=True)

    kw = dict(n_frames=16, size=64, n_objects=(1, 4))
    t0 = time.time()
    train = latent_dataset(vae, SpritesDataset(a.n_train, seed=a.seed, **kw), bs=32)
    real_ds, real2_ds = SpritesDataset(a.n, seed=1_000_000, **kw), SpritesDataset(a.n, seed=2_000_000, **kw)
    real = torch.stack([real_ds[i]['video'] for i in range(a.n)]); true = torch.stack([real_ds[i]['mask'] for i in range(a.n)])
    real2 = torch.stack([real2_ds[i]['video'] for i in range(a.n)])
    z_held = vae.encode_latents(real[:16]).detach()
    print(f"latents {train} in {time.time() - t0:.0f} s", flush=True)

    samples = {}
    if side:
        torch.save(dict(train=train, z_held=z_held, command=command), prep_path)
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, a.threads // len(arms))))
        procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], '--worker', str(arm)], env=env) for arm in arms]
        if any(pr.wait() for pr in procs): raise SystemExit('an arm failed; see its output above')
        for arm in arms:
            r = torch.load(f'runs/.ablation{a.tag}_arm{arm}.pt', weights_only=False)
            res['arms'][r['name']], res['curves'][r['name']], samples[r['name']] = r['info'], r['curve'], r['samples']
            Path(f'runs/.ablation{a.tag}_arm{arm}.pt').unlink()
        prep_path.unlink()
    else:
        for arm in arms:
            name, res['arms'][name], res['curves'][name], samples[name] = run_arm(a, arm, vae, slots, train, z_held, command)

    t0 = time.time()
    kw = dict(propagate=bool(a.propagate))
    st_real, st_real2 = clip_stats(real, vae, slots, true, **kw), clip_stats(real2, vae, slots, **kw)
    res['metrics']['real (set 2 vs set 1)'] = compare_stats(st_real2, st_real)
    res['real_identity_true'] = st_real['identity_true'].mean().item()
    with torch.no_grad():                                                  # the consistency term on real latents: its floor
        res['real_consistency'] = arm_config(a, 1)[1].consistency.loss(slots.encoder(z_held, deterministic=True, propagate=bool(a.propagate))[0]).item()
    st_gen = {name: clip_stats(v, vae, slots, **kw) for name, v in samples.items()}
    for name, st in st_gen.items(): res['metrics'][name] = compare_stats(st, st_real)
    if len(st_gen) == 2: res['fd_between_arms'] = frechet_distance(*[st['features'] for st in st_gen.values()])
    res['eval_seconds'], res['total_seconds'], res['load_end'] = round(time.time() - t0), round(time.time() - t_start), os.getloadavg()
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(res, indent=1))
    keys = ['flicker', 'flicker_rel', 'sharpness', 'sharpness_rel', 'label_stability', 'slot_match_identity', 'fd_vae']
    print(f"\n{'clips':26s} " + ' '.join(f"{k:>19s}" for k in keys))
    print(f"{'real (set 1)':26s} " + ' '.join(f"{st_real[k].float().mean().item() if k in st_real else float('nan'):19.4f}" for k in keys))
    for name, m in res['metrics'].items(): print(f"{name:26s} " + ' '.join(f"{m[k]:19.4f}" for k in keys))
    if 'fd_between_arms' in res: print(f"Fréchet distance between the two arms' samples: {res['fd_between_arms']:.4f}")
    print(f"consistency term on real latents (x0 itself): {res['real_consistency']:.4f}")
    print(f"real clips' labelled slot identity consistency (true masks): {res['real_identity_true']:.3f}; "
          f"total {res['total_seconds']} s; wrote {out_json}")


if __name__ == '__main__': main()
