"""Cost of one zarr append of 12 s of a default-store feature (2067 x 128 float16 at bfloat16 precision: real
top.layer4 features of 60 s of music, saved by ab_extract.py to /tmp/ab_new.npz), one window per append (k=1) or four
(k=4), for each codec; and the stored size over the raw size. Log: store_append_bench.log (copied from the terminal;
that run read /tmp/new1.npz, the same features)."""
import shutil
import subprocess
import time

import numpy as np
import zarr
from numcodecs import BitRound
from zarr.codecs import BloscCodec

f = np.load("/tmp/ab_new.npz")["top.layer4"].astype(np.float16)
f = BitRound(7).encode(np.ascontiguousarray(f)).view(np.float16).reshape(f.shape)
shutil.rmtree("/tmp/zb.zarr", ignore_errors=True)
g = zarr.open_group("/tmp/zb.zarr", mode="w")
codecs = (("zstd3", BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")),
          ("zstd1", BloscCodec(cname="zstd", clevel=1, shuffle="shuffle")),
          ("lz4", BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")), ("none", None))
for name, comp in codecs:
    for k in (1, 4):
        x = f[:2067 * k]
        a = g.create_array(f"{name}{k}", shape=(0, 128), chunks=(689, 128), dtype="float16", compressors=comp)
        t = time.perf_counter()
        for _ in range(8 // k):
            a.append(x, axis=0)
        dt = (time.perf_counter() - t) / 8
        size = int(subprocess.check_output(["du", "-sb", f"/tmp/zb.zarr/{name}{k}"]).split()[0])
        print(name, k, round(dt * 1000, 2), "ms per window", round(size / (8 * 2067 * 128 * 2), 3), "ratio")
