"""Training-step time, peak memory and achieved matmul-peak fraction of olvdm's UNet3D, side by side with the
`video-diffusion-pytorch` Unet3D (lucidrains) at a similar parameter count, on the same inputs, in the same run.

One training step = forward + MSE loss + backward + AdamW step. One sampling step = one forward pass without
gradients in eval mode (what every sampler calls once or twice per step; the samplers' own arithmetic is negligible
next to it), so a DPM-Solver++-20 clip costs about 20 of them. Each (model, shape) runs in its own subprocess
so `ru_maxrss` gives its peak memory; olvdm and the peer alternate (A B A B ...) so load changes hit both.
FLOPs of one step come from torch.utils.flop_counter.FlopCounterMode (forward + backward, convs/matmuls/attention);
the float32 peak is the best of several 2048^3 and 3072^3 torch.mm timings with the same thread count.

The peer is for this benchmark only (not an olvdm requirement). Install it without pulling another torch:
  pip install --no-deps video-diffusion-pytorch einops-exts rotary-embedding-torch tqdm
Its module imports torchvision (used only by its data/trainer code): a stub module stands in for it here.

Usage (heavy: run under the shared lock):
  flock /tmp/olvdm-heavy.lock nice python bench/bench_unet.py [--threads 2] [--steps 5] [--repeats 2]
"""
import argparse, json, os, resource, statistics, subprocess, sys, time, types

SHAPES = {'small': (2, 4, 4, 16, 16), 'large': (2, 4, 8, 32, 32)}
# name -> (implementation, constructor kwargs). Pairs have similar parameter counts.
MODELS = {
    'olvdm-tiny':  ('olvdm', dict(preset='tiny')),
    'peer-tiny':   ('peer', dict(dim=32, dim_mults=(1, 2), attn_heads=4)),
    'olvdm-small': ('olvdm', dict(preset='small')),
    'peer-mid':    ('peer', dict(dim=64, dim_mults=(1, 2, 3), attn_heads=4)),
}
PAIRS = [('olvdm-tiny', 'peer-tiny'), ('olvdm-small', 'peer-mid')]


def import_peer():
    "Import video_diffusion_pytorch's Unet3D with a stub torchvision (only its data/trainer code uses it)."
    if 'torchvision' not in sys.modules:
        tv = types.ModuleType('torchvision')
        tv.transforms, tv.utils = types.ModuleType('torchvision.transforms'), types.ModuleType('torchvision.utils')
        tv.transforms.ToTensor = lambda: None
        sys.modules.update({'torchvision': tv, 'torchvision.transforms': tv.transforms, 'torchvision.utils': tv.utils})
    from video_diffusion_pytorch import Unet3D
    return Unet3D


def build(name):
    impl, kw = MODELS[name]
    if impl == 'olvdm':
        from olvdm.unet3d import UNet3D, UNetConfig
        return UNet3D(getattr(UNetConfig, kw['preset'])())
    return import_peer()(channels=4, **kw)


def rss_kib():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS'))


def worker(name, shape, steps, threads):
    "Time `steps` training steps of one model on one shape; print a JSON line."
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads); torch.manual_seed(0)
    m = build(name)
    x, t = torch.randn(*shape), torch.randint(0, 1000, (shape[0],))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    def step():
        loss = F.mse_loss(m(x, t), x)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    base = rss_kib()
    with FlopCounterMode(display=False) as fc:
        loss = F.mse_loss(m(x, t), x); loss.backward()
    flops = fc.get_total_flops()
    step()                                                             # warm-up
    wall, cpu = [], []
    for _ in range(steps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux
    m.eval(); fwd = []
    with torch.no_grad():
        m(x, t)                                                        # warm-up
        for _ in range(steps):
            w0 = time.perf_counter(); m(x, t); fwd.append(time.perf_counter() - w0)
    print(json.dumps(dict(name=name, shape=shape, params=sum(p.numel() for p in m.parameters()), flops=flops,
                          wall=statistics.median(wall), cpu=statistics.median(cpu), peak_kib=peak, base_kib=base,
                          fwd=statistics.median(fwd))))


def matmul_peak(threads, sizes=(2048, 3072), reps=10):
    "Best float32 GFLOP/s of n^3 torch.mm over `sizes` (best of `reps` each: a shared machine only ever slows it)."
    import torch
    torch.set_num_threads(threads)
    best = 0.
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        for _ in range(reps):
            t0 = time.perf_counter(); a @ b; best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def run_one(name, shape, a):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    cmd = [sys.executable, __file__, '--worker', name, '--shape', ','.join(map(str, shape)),
           '--steps', str(a.steps), '--threads', str(a.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f"{name} {shape} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=5, help='timed steps per run (median reported)')
    p.add_argument('--repeats', type=int, default=2, help='runs per model and shape, alternating with the peer')
    p.add_argument('--shapes', default='small,large')
    p.add_argument('--worker'); p.add_argument('--shape')
    a = p.parse_args()
    if a.worker: return worker(a.worker, tuple(map(int, a.shape.split(','))), a.steps, a.threads)

    import torch
    print(f"torch {torch.__version__}, {a.threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    peak = matmul_peak(a.threads)
    print(f"float32 matmul peak (torch.mm 2048^3 and 3072^3, best of 10 each): {peak:.1f} GFLOP/s\n")
    hdr = (f"{'model':12s} {'latent b c f h w':18s} {'params':>8s} {'GFLOP/step':>10s} {'step s':>7s} "
           f"{'cpu s':>7s} {'GFLOP/s':>8s} {'% peak':>6s} {'peak MiB':>8s} {'+MiB':>6s} {'sample step s':>13s}")
    print(hdr); print('-' * len(hdr))
    res = {}
    for sname in a.shapes.split(','):
        shape = SHAPES[sname]
        for pair in PAIRS:
            runs = {n: [] for n in pair}
            for _ in range(a.repeats):
                for n in pair: runs[n].append(run_one(n, shape, a))
            for n in pair:
                r = min(runs[n], key=lambda r: r['wall'])                 # best run of the repeats
                res[n, sname] = r
                gf = r['flops'] / 1e9
                print(f"{n:12s} {'x'.join(map(str, shape)):18s} {r['params'] / 1e6:7.2f}M {gf:10.2f} {r['wall']:7.3f} "
                      f"{r['cpu']:7.3f} {gf / r['wall']:8.1f} {100 * gf / r['wall'] / peak:6.1f} "
                      f"{r['peak_kib'] / 1024:8.0f} {(r['peak_kib'] - r['base_kib']) / 1024:6.0f} {r['fwd']:13.4f}", flush=True)
        print()
    for sname in a.shapes.split(','):
        for o, q in PAIRS:
            if (o, sname) in res:
                print(f"{sname}: {o} training step is {res[q, sname]['wall'] / res[o, sname]['wall']:.2f}x faster than {q}, "
                      f"sampling step {res[q, sname]['fwd'] / res[o, sname]['fwd']:.2f}x")


if __name__ == '__main__': main()
