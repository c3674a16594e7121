"""Training throughput of the latent denoiser, one lever at a time, side by side in one run.

Each variant is one training step (forward + loss + backward + AdamW) of olvdm's UNet3D, timed in a fresh subprocess
(steps after one warm-up step; median wall and process-CPU seconds), variants alternating over `--repeats` rounds so
load changes hit all of them. Reported: steps/s and clips/s, and clips/s relative to `old` (the tiny UNet at batch 4
on the earlier 8-channel 16x16x16x16 latent, the figure the throughput target counts from).

Levers: the latent (old 8x16x16x16 vs 4x8x16x16), batch size, bf16 autocast, channels-last memory, frame-folded 2D
convs for the (1,3,3) kernels, torch.compile (`--compile`: minutes of compiling first), 1 vs 2 threads, and where the
batch comes from (latents in memory vs clips encoded by the VAE every step). Results: bench/results/throughput.jsonl.

    python bench/bench_throughput.py --repeats 2 --steps 5            # alone on the machine
    python bench/bench_throughput.py --only tiny_b8,small_b8 --compile
"""
import argparse, json, os, statistics, subprocess, sys, time

OLD, NEW = (8, 16, 16, 16), (4, 8, 16, 16)
# name: (unet preset, latent c f h w, batch, options)
VARIANTS = {
    'old_b4':        ('tiny', OLD, 4, {}),
    'tiny_b4':       ('tiny', NEW, 4, {}),
    'tiny_b8':       ('tiny', NEW, 8, {}),
    'tiny_b16':      ('tiny', NEW, 16, {}),
    'tiny_b8_1thr':  ('tiny', NEW, 8, dict(threads=1)),
    'tiny_b8_bf16':  ('tiny', NEW, 8, dict(bf16=True)),
    'tiny_b8_cl':    ('tiny', NEW, 8, dict(channels_last=True)),
    'tiny_b8_2d':    ('tiny', NEW, 8, dict(fold2d=True)),
    'tiny_b8_fused': ('tiny', NEW, 8, dict(fused=True)),
    'tiny_b8_encode': ('tiny', NEW, 8, dict(encode=True)),
    'small_b8':      ('small', NEW, 8, {}),
    'small_b8_bf16': ('small', NEW, 8, dict(bf16=True)),
}


def fold_2d_convs():
    "Run every Conv3d with a (1, k, k) kernel as a Conv2d over (b f) images (same weights)."
    import torch.nn.functional as F
    from einops import rearrange
    from torch import nn
    orig = nn.Conv3d.forward
    def forward(self, x):
        if self.kernel_size[0] != 1 or self.stride[0] != 1 or self.padding[0] != 0: return orig(self, x)
        y = F.conv2d(rearrange(x, 'b c f h w -> (b f) c h w'), self.weight[:, :, 0], self.bias, self.stride[1:], self.padding[1:])
        return rearrange(y, '(b f) c h w -> b c f h w', b=x.shape[0])
    nn.Conv3d.forward = forward


def worker(name, steps, threads, compile_):
    import torch
    import torch.nn.functional as F
    from olvdm.unet3d import UNet3D, UNetConfig
    preset, shape, bs, opt = VARIANTS[name]
    torch.set_num_threads(opt.get('threads', threads)); torch.manual_seed(0)
    if opt.get('fold2d'): fold_2d_convs()
    net = UNet3D(getattr(UNetConfig, preset)(in_ch=shape[0]))
    x, t = torch.randn(bs, *shape), torch.randint(0, 1000, (bs,))
    if opt.get('channels_last'): net, x = net.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d)
    if opt.get('encode'):                                  # the batch is encoded from clips every step (no latents in memory)
        from olvdm.vae import VAEConfig, VideoVAE
        vae, clips = VideoVAE(VAEConfig.tiny()).eval(), torch.rand(bs, 3, 16, 64, 64) * 2 - 1
    model = torch.compile(net) if compile_ else net
    optim = torch.optim.AdamW(net.parameters(), 1e-4, fused=bool(opt.get('fused')) or None)
    cpu, wall = [], []
    for i in range(steps + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        if opt.get('encode'):
            with torch.no_grad(): x = vae.encode(clips).sample()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(opt.get('bf16'))):
            loss = F.mse_loss(model(x, t).float(), x)
        optim.zero_grad(); loss.backward(); optim.step()
        if i: cpu.append(time.process_time() - c0); wall.append(time.perf_counter() - w0)   # step 0 warms up (and compiles)
    w = statistics.median(wall)
    print(json.dumps(dict(variant=name, unet=preset, params_m=round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
                          latent=list(shape), bs=bs, threads=torch.get_num_threads(), compiled=compile_, **{k: v for k, v in opt.items() if k != 'threads'},
                          wall_s=round(w, 4), cpu_s=round(statistics.median(cpu), 4), steps_per_s=round(1 / w, 3), clips_per_s=round(bs / w, 2))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--steps', type=int, default=5)
    p.add_argument('--repeats', type=int, default=2); p.add_argument('--only', default=None, help='comma-separated variants')
    p.add_argument('--compile', action='store_true', help='torch.compile the UNet (all variants)')
    p.add_argument('--results', default='bench/results/throughput.jsonl'); p.add_argument('--worker', default=None)
    a = p.parse_args()
    if a.worker: return worker(a.worker, a.steps, a.threads, a.compile)
    names = a.only.split(',') if a.only else list(VARIANTS)
    runs = {}
    for _ in range(a.repeats):
        for name in names:
            cmd = [sys.executable, __file__, '--worker', name, '--steps', str(a.steps), '--threads', str(a.threads)] + (['--compile'] if a.compile else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r['clips_per_s'] for r in runs['old_b4']) if 'old_b4' in runs else None
    date = time.strftime('%Y-%m-%d')
    with open(a.results, 'a') as f:
        for name, rs in runs.items():
            r = dict(rs[0], wall_s=statistics.median(x['wall_s'] for x in rs), cpu_s=statistics.median(x['cpu_s'] for x in rs))
            r.update(steps_per_s=round(1 / r['wall_s'], 3), clips_per_s=round(r['bs'] / r['wall_s'], 2), date=date,
                     load=round(os.getloadavg()[0], 1), command='python ' + ' '.join(sys.argv))
            if base: r['vs_old_b4'] = round(r['clips_per_s'] / base, 2)
            print(json.dumps(r), flush=True); f.write(json.dumps(r) + '\n')


if __name__ == '__main__': main()
