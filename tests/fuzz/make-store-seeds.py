#!/usr/bin/python3
# Writes the small HDF5 seed stores of tests/fuzz/corpus/store/ (schemas/features.md
# layout, tiny shapes): /usr/bin/python3 tests/fuzz/make-store-seeds.py tests/fuzz/corpus/store
import sys, h5py, numpy as np

out = sys.argv[1]
S = h5py.string_dtype()

def store(name, kind, fields, ids=(b"01-01-01-01-01-01", b"01-02-01-01-01-02"), extra=None):
    with h5py.File(f"{out}/{name}", "w", track_order=False) as f:
        for k, v in [("schema_version", "1"), ("kind", kind), ("tool_version", "0.1.0"),
                     ("config", "audio:\n  n_mels: 4\n"), ("config_sha256", "0" * 64),
                     ("index_sha256", "1" * 64), ("shard", "0/1")]:
            f.attrs.create(k, v, dtype=S)
        for k, v in (extra or {}).items():
            f.attrs.create(k, v, dtype=S)
        f.create_dataset("clips/id", data=np.array(ids, dtype="S17"), maxshape=(None,),
                         chunks=(64,), track_times=False)
        for fname, arr, chunk, filt in fields:
            kw = dict(shuffle=True, compression="gzip", compression_opts=4) if filt else {}
            f.create_dataset(fname, data=arr, maxshape=(None,) + arr.shape[1:], chunks=chunk,
                             track_times=False, **kw)

n = 2
store("mel.h5", "mel", [("mel", np.arange(n * 4 * 3, dtype="<f4").reshape(n, 4, 3), (1, 4, 3), True),
                        ("mel_frames", np.array([3, 2], dtype="<i4"), (2,), True)])
store("frames.h5", "frames", [("frames", np.zeros((n, 64, 64, 4), dtype="u1"), (1, 64, 64, 4), True),
                              ("frame_pts", np.array([[0.5], [0.25]], dtype="<f8"), (2, 1), False)])
store("features.h5", "features",
      [("clips/label", np.array([6, 0], dtype="<i4"), (2,), True),
       ("clips/split", np.array([b"train", b"test"], dtype="S5"), (2,), True),
       ("mel", np.ones((n, 64, 64), dtype="<f4"), (1, 64, 64), True)],
      extra={"index_file": "index.csv"})
with h5py.File(f"{out}/features.h5", "a") as f:
    f.attrs.create("class_names", ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"], dtype=S)
