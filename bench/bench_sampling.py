"""Sampling speed and the OLVDM training step on this CPU.

1. Seconds per sampled 16-frame 64x64 clip (latent c x 16x16x16) for DDPM-1000, DDIM-50 and DPM-Solver++(2M)-20,
   with the tiny and the small UNet, batch 1 (one clip) and batch 8 (per clip), through `OLVDM.sample`
   (EMA UNet + VAE decoding); the VAE decode alone is given separately. Wall and process CPU time (the CPU time
   is less sensitive to other jobs on a shared machine). DDPM-1000 of the small UNet is DDPM-100 x 10 unless --ddpm_full.
2. The OLVDM training step (olvdm.model.olvdm_loss + backward + AdamW, batch 8 of c x 16x16x16 latents) with the tiny
   and small UNet, λ = 0 (the LVDM baseline) and λ > 0 (slot consistency on x̂0 for t < t_max; here every sample is
   gated in, the worst case): wall time (best of --steps; median also stored) and process CPU time, peak memory (max RSS of a fresh subprocess), FLOPs of one step
   (torch.utils.flop_counter.FlopCounterMode) and the achieved fraction of the float32 matmul peak.
   The UNet-only step against the peer implementation (video-diffusion-pytorch) is bench/bench_unet.py; the peak
   measurement (`matmul_peak`) is reused from it.

Weights do not change speed: the VAE/slot modules are runs/vae_tiny.pt and runs/slots_tiny.pt when they exist,
otherwise untrained tiny presets; the UNets are untrained.

    flock /tmp/olvdm-heavy.lock nice -n 5 python bench/bench_sampling.py [--threads 2] [--presets tiny,small]
"""
import argparse, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_unet import matmul_peak, rss_kib  # noqa: E402

SAMPLERS = [('ddpm', 1000), ('ddim', 50), ('dpmpp_2m', 20)]


def build(preset, lam=0., t_max=400):
    import torch
    from olvdm.model import OLVDM, OLVDMConfig
    from olvdm.slots import LatentSlotModel, SlotConfig, load_slots
    from olvdm.vae import VAEConfig, VideoVAE, load_vae
    vae = load_vae('runs/vae_tiny.pt') if Path('runs/vae_tiny.pt').exists() else VideoVAE(VAEConfig.tiny())
    slots = load_slots('runs/slots_tiny.pt') if Path('runs/slots_tiny.pt').exists() else LatentSlotModel(SlotConfig.tiny(in_channels=vae.cfg.z_channels))
    torch.manual_seed(0)
    return OLVDM(vae, slots, getattr(OLVDMConfig, preset)(lam=lam, t_max=t_max)).eval()


def step_worker(preset, lam, bs, steps, threads):
    "Time `steps` OLVDM training steps in this process; print one JSON line."
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    m = build(preset, lam, t_max=1000).train()
    c, s, f = m.vae.cfg.z_channels, m.cfg.latent_size, m.cfg.latent_frames
    z = torch.randn(bs, c, f, s, s)
    opt = torch.optim.AdamW(m.unet.parameters(), lr=1e-4)
    def step():
        out = m.loss({'latent': z})
        opt.zero_grad(set_to_none=True); out['loss'].backward(); opt.step()
    base = rss_kib()
    with FlopCounterMode(display=False) as fc: m.loss({'latent': z})['loss'].backward()
    flops = fc.get_total_flops()
    step()
    wall, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time(); step()
        wall.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    print(json.dumps(dict(preset=preset, lam=lam, bs=bs, params=sum(p.numel() for p in m.unet.parameters()), flops=flops,
                          wall=min(wall), wall_median=statistics.median(wall), cpu=min(cpu),
                          peak_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, base_kib=base)))


def sampling(preset, threads, batches=(1, 8), ddpm_full=True):
    "Seconds (wall and process CPU) per clip for each sampler; DDPM-1000 is run fully, or as DDPM-100 x 10 (`ddpm_full=False`)."
    import torch
    torch.set_num_threads(threads)
    m = build(preset)
    rows = []
    m.sample(1, steps=2, progress=False)                                   # warm-up
    z = torch.randn(1, m.vae.cfg.z_channels, m.cfg.latent_frames, m.cfg.latent_size, m.cfg.latent_size)
    t0 = time.perf_counter(); m.vae.decode_latents(z); dec = time.perf_counter() - t0
    for b in batches:
        for sampler, steps in SAMPLERS:
            if b > 1 and sampler == 'ddpm': continue                       # the batch figure for the fast samplers only
            run_steps = steps if sampler != 'ddpm' or ddpm_full else steps // 10
            w0, c0 = time.perf_counter(), time.process_time()
            m.sample(b, steps=run_steps, sampler=sampler, seed=0, progress=False)
            wall, cpu = [(v * steps / run_steps) / b for v in (time.perf_counter() - w0, time.process_time() - c0)]
            rows.append(dict(preset=preset, sampler=f"{sampler}-{steps}", batch=b, sec_per_clip=round(wall, 3), cpu_sec_per_clip=round(cpu, 3),
                             ms_per_call=round(1000 * wall * b / steps, 1), extrapolated_from=None if run_steps == steps else run_steps,
                             load=round(os.getloadavg()[0], 1)))
            ex = f" (measured {run_steps} steps, x{steps // run_steps})" if run_steps != steps else ''
            print(f"{preset:6s} {rows[-1]['sampler']:14s} batch {b}: {wall:8.2f} s/clip, cpu {cpu:8.2f} s/clip ({rows[-1]['ms_per_call']:.0f} ms "
                  f"per UNet call for the batch){ex}  load {rows[-1]['load']}", flush=True)
    return rows, dec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--presets', default='tiny,small')
    p.add_argument('--steps', type=int, default=5, help='timed training steps (median)')
    p.add_argument('--bs', type=int, default=8); p.add_argument('--lam', type=float, default=0.1)
    p.add_argument('--ddpm_full', action='store_true', help='run DDPM-1000 fully for every preset (default: tiny only; others DDPM-100 x 10)')
    p.add_argument('--skip', default='', help="'sampling' or 'train' to skip a part")
    p.add_argument('--out', default='runs/bench_sampling.json')
    p.add_argument('--worker', nargs=2, metavar=('PRESET', 'LAM'))
    a = p.parse_args()
    if a.worker: return step_worker(a.worker[0], float(a.worker[1]), a.bs, a.steps, a.threads)
    import torch
    print(f"torch {torch.__version__}, {a.threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()}; "
          f"VAE: {'runs/vae_tiny.pt' if Path('runs/vae_tiny.pt').exists() else 'untrained tiny preset'}, "
          f"slots: {'runs/slots_tiny.pt' if Path('runs/slots_tiny.pt').exists() else 'untrained tiny preset'}")
    res = dict(date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), command='python ' + ' '.join(sys.argv), threads=a.threads)
    if 'sampling' not in a.skip:
        res['sampling'] = []
        for preset in a.presets.split(','):
            rows, dec = sampling(preset, a.threads, ddpm_full=preset == 'tiny' or a.ddpm_full)
            res['sampling'] += rows; res['vae_decode_sec_per_clip'] = round(dec, 3)
        print(f"VAE decode of one 16-frame clip: {res['vae_decode_sec_per_clip']:.3f} s (included above)\n")
    if 'train' not in a.skip:
        peak = matmul_peak(a.threads)
        res['matmul_peak_gflops'] = round(peak, 1)
        print(f"float32 matmul peak (torch.mm 2048^3 and 3072^3, best of 10 each): {peak:.1f} GFLOP/s")
        hdr = (f"{'UNet':6s} {'λ':>5s} {'params':>8s} {'GFLOP/step':>10s} {'step s':>7s} {'cpu s':>7s} {'GFLOP/s':>8s} {'% peak':>6s} "
               f"{'peak MiB':>8s} {'+MiB':>6s}")
        print(hdr); print('-' * len(hdr))
        res['train'] = []
        for preset in a.presets.split(','):
            for lam in (0., a.lam):
                cmd = [sys.executable, __file__, '--worker', preset, str(lam), '--bs', str(a.bs), '--steps', str(a.steps), '--threads', str(a.threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
                if out.returncode: raise RuntimeError(f"{preset} λ={lam} failed:\n{out.stderr[-3000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                gf = r['flops'] / 1e9
                r.update(gflops=round(gf, 2), gflops_per_s=round(gf / r['wall'], 1), pct_peak=round(100 * gf / r['wall'] / peak, 1), load=round(os.getloadavg()[0], 1))
                res['train'].append(r)
                print(f"{preset:6s} {lam:5.2f} {r['params'] / 1e6:7.2f}M {gf:10.2f} {r['wall']:7.3f} {r['cpu']:7.3f} {gf / r['wall']:8.1f} {r['pct_peak']:6.1f} "
                      f"{r['peak_kib'] / 1024:8.0f} {(r['peak_kib'] - r['base_kib']) / 1024:6.0f}", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"wrote {a.out}")


if __name__ == '__main__': main()
