"""Denoiser cost of each candidate latent shape: numbers per clip and the tiny UNet's training step on that latent.

For a 16x64x64 clip, each VAE latent shape (f_t, f_s, channels) gives latents `c 16/f_t 64/f_s 64/f_s`. This times
forward + L1 loss + backward + AdamW of `UNetConfig.tiny(in_ch=c)` on a batch of such latents (float32), in a fresh
subprocess per shape (so one shape's memory does not colour the next), alternating shapes over `--repeats` rounds,
and prints one JSON line per shape with the median step time (process CPU seconds and wall seconds).

    python bench/bench_latent.py --threads 1 --steps 6 --repeats 3
"""
import argparse, json, statistics, subprocess, sys, time

LATENTS = {  # name: (f_t, f_s, channels)
    'ft1_fs4_c8': (1, 4, 8), 'ft1_fs4_c4': (1, 4, 4), 'ft2_fs4_c4': (2, 4, 4), 'ft2_fs4_c8': (2, 4, 8), 'ft1_fs8_c8': (1, 8, 8)}


def worker(name, bs, steps, threads):
    import torch
    import torch.nn.functional as F
    from olvdm.unet3d import UNet3D, UNetConfig
    torch.set_num_threads(threads); torch.manual_seed(0)
    f_t, f_s, c = LATENTS[name]
    shape = (bs, c, 16 // f_t, 64 // f_s, 64 // f_s)
    net = UNet3D(UNetConfig.tiny(in_ch=c))
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    x, t = torch.randn(shape), torch.randint(0, 1000, (bs,))
    cpu, wall = [], []
    for i in range(steps + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        loss = F.l1_loss(net(x, t), x); opt.zero_grad(); loss.backward(); opt.step()
        if i: cpu.append(time.process_time() - c0); wall.append(time.perf_counter() - w0)   # step 0 warms up
    print(json.dumps(dict(latent=name, shape=list(shape[1:]), numbers_per_clip=int(torch.tensor(shape[1:]).prod()),
                          bs=bs, threads=threads, cpu_s=statistics.median(cpu), wall_s=statistics.median(wall))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=1); p.add_argument('--bs', type=int, default=4)
    p.add_argument('--steps', type=int, default=6); p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--worker', default=None)
    a = p.parse_args()
    if a.worker: return worker(a.worker, a.bs, a.steps, a.threads)
    runs = {}
    for _ in range(a.repeats):
        for name in LATENTS:
            out = subprocess.run([sys.executable, __file__, '--worker', name, '--bs', str(a.bs), '--steps', str(a.steps),
                                  '--threads', str(a.threads)], capture_output=True, text=True, check=True).stdout
            runs.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r['cpu_s'] for r in runs['ft1_fs4_c8'])
    for name, rs in runs.items():
        r = dict(rs[0], cpu_s=round(statistics.median(x['cpu_s'] for x in rs), 4), wall_s=round(statistics.median(x['wall_s'] for x in rs), 4))
        r['speedup_vs_ft1_fs4_c8'] = round(base / r['cpu_s'], 2)
        print(json.dumps(r), flush=True)


if __name__ == '__main__': main()
