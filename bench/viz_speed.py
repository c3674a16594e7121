"Time the viewers: one widget step, overlays and show_video encodes. Usage: python bench/viz_speed.py"
import time, torch, numpy as np, torch.nn.functional as F
from olvdm.viz import *
from olvdm.widgets import *
torch.manual_seed(0)
def tm(fn, n=20):
    fn(); t = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - t) / n * 1000
v = torch.rand(4, 3, 16, 64, 64) * 2 - 1
m = torch.softmax(torch.randn(7, 16, 16, 16), 0)
fs = FrameScrubber(v)
print(f"FrameScrubber step (64px -> 256px PNG): {tm(fs.next):.1f} ms")
sv = SlotMaskViewer(v[0], m)
print(f"SlotMaskViewer step (k=7, 16px masks on 64px video): {tm(sv.next):.1f} ms")
vc = VideoCompare(v[:1], v[1:2], v[2:3], diff=True)
print(f"VideoCompare step (3 videos, diff mode): {tm(vc.next):.1f} ms")
print(f"SlotMaskViewer init (upsample masks): {tm(lambda: SlotMaskViewer(v[0], m), 5):.1f} ms")
print(f"overlay_masks 16x64x64, k=7: {tm(lambda: overlay_masks(v[0], m), 5):.1f} ms")
print(f"show_video mp4, batch 4x16x64x64 tiled, size 256: {tm(lambda: show_video(v), 3):.0f} ms")
print(f"show_video gif, same: {tm(lambda: show_video(v, fmt='gif'), 3):.0f} ms")
h = show_video(v); print(f"  mp4 html size {len(h.data)/1024:.0f} KiB; gif html {len(show_video(v, fmt='gif').data)/1024:.0f} KiB")
