"""Time the foundation: sprite generation, dataset reads (synthetic, mp4 set, real footage) and Learner overhead.

Usage: python bench/bench_foundation.py   (prints one line per figure; about a minute on a 2-core CPU)
"""
import contextlib, io, os, tempfile, time
import torch
from torch import nn
import torch.nn.functional as F
import skvideo
from olvdm.core import DataLoaders, set_seed
from olvdm.data import SpritesDataset, SpritesFolder, VideoDataset, moving_sprites, write_sprites_set
from olvdm.learner import EMACB, GradClipCB, Learner, LRSchedCB, MetricsCB, ProgressCB, cosine_warmup


def ms(fn, n=20):
    "Mean milliseconds per call over `n` calls, after one warm-up call."
    fn(); t = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - t) / n * 1000


def bench_data():
    for preset in ('black', 'varied', 'novel'):
        seeds = iter(range(10_000))
        print(f"moving_sprites 16x64x64, preset {preset}: {ms(lambda: moving_sprites(seed=next(seeds), preset=preset), n=40):.1f} ms/clip (mean of 40 seeds)")
    ds = SpritesDataset(1000, cache=False)
    print(f"SpritesDataset item (generate + to_float): {ms(lambda: ds[5]):.1f} ms")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()): write_sprites_set(d, 4); t = (time.perf_counter() - t) / 4 * 1000
        print(f"write_sprites_set (mp4 + npz): {t:.0f} ms/clip")
        sf = SpritesFolder(d)
        print(f"SpritesFolder item (decord 16 frames + npz): {ms(lambda: sf[1]):.1f} ms")
    root = os.path.join(os.path.dirname(skvideo.__file__), 'datasets', 'data')
    for name in ('carphone_pristine.mp4', 'bikes.mp4'):
        vd = VideoDataset(os.path.join(root, name), n_frames=16, size=64, random_start=False)
        print(f"VideoDataset item {name}, 16 frames -> 64x64: {ms(lambda: vd[0], 5):.0f} ms")


def bench_learner(n=256, bs=8):
    set_seed(0)
    x = torch.randn(n * bs, 16); y = x @ torch.randn(16, 1)
    ds = torch.utils.data.TensorDataset(x, y)
    dls = DataLoaders.from_datasets(ds, bs=bs)
    loss = lambda m, b: F.mse_loss(m(b[0]), b[1])
    def plain():
        m = nn.Linear(16, 1); opt = torch.optim.AdamW(m.parameters(), 1e-3)
        for b in dls.train:
            l = loss(m, b); l.backward(); opt.step(); opt.zero_grad(); l.item()
    def learner(cbs):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            Learner(nn.Linear(16, 1), dls, loss, cbs=cbs()).fit(1, valid=False)
    for label, f in [('plain loop', plain), ('Learner, no callbacks', lambda: learner(list)),
                     ('Learner + Metrics, Progress, EMA, GradClip, LRSched',
                      lambda: learner(lambda: [MetricsCB(), ProgressCB(plot=False), EMACB(), GradClipCB(),
                                               LRSchedCB(cosine_warmup(n, 10))]))]:
        print(f"{label}: {ms(f, 3) / len(dls.train):.3f} ms/batch")


if __name__ == '__main__':
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, 1 torch thread")
    bench_data(); bench_learner()
