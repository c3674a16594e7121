"""Peak memory and time of long-video sampling (`olvdm.long.sample_long`) against its length.

Each length runs in a fresh subprocess, which builds the model (untrained tiny presets with `task='predict'`: 64x64
clips, c x 16 x 16 x 16 latent windows, 4 known latent frames; or a checkpoint), samples one clip of F frames with
slot masks, and reports its peak RSS (`ru_maxrss`), the RSS before sampling, and the wall time. The issue-15 target
is a peak for 128 frames within 1.3x that of 16 frames, and time linear in length. With `--whole` the video is
also decoded in one call (`decode_chunk` = F), to show what chunked decoding saves.
Weights do not change memory or time, so untrained models are enough; the figures are printed, not asserted.

    python bench/bench_long.py [--frames 16,32,64,128] [--steps 2] [--threads 2] [--ckpt runs/olvdm.pt] [--whole] [--out f.jsonl]
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path


def rss_kib():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS'))


def build(ckpt=None):
    import torch
    from olvdm.model import OLVDM, OLVDMConfig, load_olvdm
    from olvdm.slots import LatentSlotModel, SlotConfig
    from olvdm.vae import VAEConfig, VideoVAE
    if ckpt: return load_olvdm(ckpt)
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.tiny())
    return OLVDM(vae, LatentSlotModel(SlotConfig.tiny(in_channels=vae.cfg.z_channels)), OLVDMConfig.tiny(task='predict')).eval()


def worker(frames, steps, chunk, threads, ckpt):
    "Sample one clip of `frames` frames in this process; print one JSON line."
    import torch
    torch.set_num_threads(threads)
    from olvdm.long import sample_long
    model = build(ckpt)
    before = rss_kib()
    t = time.time()
    video, masks = sample_long(model, frames, steps=steps, seed=0, return_masks=True, progress=False, decode_chunk=chunk or frames)
    wall = time.time() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(frames=frames, steps=steps, decode_chunk=chunk or frames, rss_before_mib=round(before / 1024, 1),
                          peak_mib=round(peak / 1024, 1), peak_over_before_mib=round((peak - before) / 1024, 1),
                          seconds=round(wall, 2), seconds_per_frame=round(wall / frames, 4),
                          video_mib=round(video.numel() * 4 / 2**20, 1), masks_mib=round(masks.numel() * 4 / 2**20, 1))))


def run(frames, steps, chunk, threads, ckpt):
    cmd = [sys.executable, __file__, '--worker', str(frames), '--steps', str(steps), '--chunk', str(chunk), '--threads', str(threads)]
    if ckpt: cmd += ['--ckpt', ckpt]
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode: sys.exit(f"worker for {frames} frames failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', default='16,32,64,128', help="comma-separated lengths; the first is the reference")
    p.add_argument('--steps', type=int, default=2, help="sampler steps per window (time scales with it, memory does not)")
    p.add_argument('--chunk', type=int, default=4, help="latent frames decoded at a time")
    p.add_argument('--whole', action='store_true', help="also decode each video in one call, for comparison")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--ckpt', default=None, help="an OLVDM checkpoint trained with task=predict (default: untrained tiny)")
    p.add_argument('--out', default=None, help="append the rows as JSON lines to this file")
    p.add_argument('--worker', type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None: return worker(a.worker, a.steps, a.chunk, a.threads, a.ckpt)
    lengths = [int(f) for f in a.frames.split(',')]
    rows = [run(f, a.steps, a.chunk, a.threads, a.ckpt) for f in lengths]
    if a.whole: rows += [run(f, a.steps, 0, a.threads, a.ckpt) for f in lengths]
    ref = rows[0]
    print(f"{'frames':>6s} {'chunk':>5s} {'peak MiB':>9s} {'x ref':>6s} {'over start MiB':>14s} {'video MiB':>9s} {'s':>7s} {'s/frame':>8s}")
    for r in rows:
        print(f"{r['frames']:6d} {r['decode_chunk']:5d} {r['peak_mib']:9.1f} {r['peak_mib'] / ref['peak_mib']:6.2f} "
              f"{r['peak_over_before_mib']:14.1f} {r['video_mib']:9.1f} {r['seconds']:7.2f} {r['seconds_per_frame']:8.4f}")
    print(f"target (issue 15): peak of the longest <= 1.3x that of {ref['frames']} frames; s/frame about constant")
    if a.out:
        with open(a.out, 'a') as f:
            for r in rows: f.write(json.dumps(dict(bench='long', date=time.strftime('%Y-%m-%d'), threads=a.threads, **r)) + '\n')


if __name__ == '__main__': main()
