#!/usr/bin/python3
"""A torch Dataset over a features.h5 written by pack-h5 (schemas/features.md).

Each item is exactly what the seed's dataset gave the model:

  image  float32 [3, H, W]   the stored RGB frame (uint8 [H, W, 3], 224x224 by default)
                              through torchvision's ToTensor (/255, CHW) and
                              Normalize(mean, std), mean/std from the store's own
                              config (image.mean, image.std), in the same float32
                              operations, so the tensor is bit-identical
  mel    float32 [n_mels, max_len]  the stored log-mel (64 x 300 by default)
  label  int                 class index; names in features.h5 attribute class_names

    from ravdess_dataset import RavdessFeatures
    ds = RavdessFeatures("features.h5", split="train")
    image, mel, label = ds[0]
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=2)

The file is opened lazily in each process (h5py handles must not cross fork()),
read-only; plain h5py, no plugin.  `frame` picks one of the K stored frames a clip
(default: 0, the only one with image.frames: 1).
"""

import os

import h5py
import numpy as np
import torch
import yaml

SCHEMA_VERSION = "1"


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


class RavdessFeatures(torch.utils.data.Dataset):
    def __init__(self, path, split=None, frame=0):
        self.path = path
        self.frame = frame
        with h5py.File(path, "r") as f:
            version = _text(f.attrs.get("schema_version", ""))
            if version != SCHEMA_VERSION:
                raise ValueError("%s: store schema version %r, this reader knows %r"
                                 % (path, version, SCHEMA_VERSION))
            cfg = yaml.safe_load(_text(f.attrs["config"]))
            self.class_names = [_text(c) for c in f.attrs["class_names"]]
            self.ids = [_text(x) for x in f["clips/id"][:]]
            splits = [_text(x) for x in f["clips/split"][:]]
            self.labels = f["clips/label"][:].astype(np.int64)
            k = f["frames"].shape[1] if "frames" in f else 0
        if split not in (None, "all", "train", "val", "test"):
            raise ValueError("split %r: want train, val, test or all" % (split,))
        if not 0 <= frame < max(k, 1):
            raise ValueError("frame %d: the store has %d frames a clip" % (frame, k))
        self.rows = [i for i, s in enumerate(splits) if split in (None, "all") or s == split]
        # torchvision.transforms.Normalize turns mean/std into float32 tensors [C,1,1]
        self.mean = torch.as_tensor([float(x) for x in cfg["image"]["mean"]], dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor([float(x) for x in cfg["image"]["std"]], dtype=torch.float32).view(-1, 1, 1)
        self._f = None
        self._pid = None

    def _file(self):
        if self._f is None or self._pid != os.getpid():
            self._f = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._f

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, k):
        i = self.rows[k]
        f = self._file()
        frame = f["frames"][i, self.frame]  # uint8 [H, W, 3]
        # ToTensor: HWC uint8 -> CHW, contiguous, float32 / 255; then Normalize: sub_, div_
        image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).contiguous()
        image = image.to(dtype=torch.float32).div(255)
        image = image.sub_(self.mean).div_(self.std)
        mel = torch.from_numpy(np.asarray(f["mel"][i], dtype=np.float32))
        return image, mel, int(self.labels[i])

    def clip_id(self, k):
        return self.ids[self.rows[k]]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_f"] = None
        state["_pid"] = None
        return state
