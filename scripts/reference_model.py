#!/usr/bin/python3
"""The seed's MultimodalAttentionFusion network in PyTorch: the reference run-model matches.

Structure (lib/nn/model.h describes the same network; attribute names are the seed's,
so a state_dict trained with the seed's code loads with load_state_dict(strict=True)):

    img_encoder    torchvision efficientnet_b0(weights=None): features + avgpool,
                   classifier = Identity -> [B, 1280]
    img_attn       ChannelAttention(1280): the shared MLP `fc`
                   (Linear(1280,160) ReLU Linear(160,1280) Sigmoid) applied to the
                   average- and the max-pool of the [B,1280,1,1] feature, the two
                   outputs summed; the model multiplies that sum into the feature
    audio_encoder  Sequential(Conv2d(1,32,3,p=1), BatchNorm2d(32), ReLU, MaxPool2d(2),
                   ChannelAttention(32) [index 4], Conv2d(32,64,3,p=1),
                   AdaptiveAvgPool2d(1)) on the mel [B,64,T] seen as [B,1,64,T] -> [B, 64]
    fusion         Sequential(Linear(1344,512), BatchNorm1d(512), ReLU, Dropout)
    classifier     Linear(512, num_classes)

audio_attention:
    "replace" (default, the seed's behaviour): the audio ChannelAttention returns its
              weights [B,32,1,1] and they replace the feature map, so the following
              3x3 convolution sees a 1x1 input (only its centre taps matter).
    "scale":  the attention returns x * weights, as a channel attention usually does.

Unlike the seed, which calls bare .squeeze() (wrong at batch 1 and with one class),
every reshape here names its dimensions: the model works for any batch size >= 1 and
any number of classes >= 1.

Inputs of forward(img, mel):
    img  float32 [B, 3, 224, 224], already /255 and ImageNet-normalised
    mel  float32 [B, 64, T] log-mel in dB (T = 300 in the seed)
Output: logits [B, num_classes].  Call .eval() first: dropout and stochastic depth are
identity and BatchNorm uses its running statistics, which is what run-model computes.
"""

import torch
import torch.nn as nn
import torchvision

SEED7_CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
ARCHITECTURE = "MultimodalAttentionFusion"
AUDIO_ATTENTION_MODES = ("replace", "scale")


class ChannelAttention(nn.Module):
    """Channel attention over [B, C, H, W].

    fc (shared by both pooled branches) = Linear(C, C//r), ReLU, Linear(C//r, C), Sigmoid.
    The result is fc(avgpool(x)) + fc(maxpool(x)), shaped [B, C, 1, 1]; with
    mode "weights" (the image branch and the seed's audio branch) that sum is returned,
    with mode "scale" x * sum is returned.
    """

    def __init__(self, channels, reduction=8, mode="weights"):
        super().__init__()
        if mode not in ("weights", "scale"):
            raise ValueError("mode must be 'weights' or 'scale', not %r" % (mode,))
        hidden = max(1, channels // reduction)
        self.mode = mode
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c = x.shape[0], x.shape[1]
        a = self.fc(self.avg_pool(x).reshape(b, c))
        m = self.fc(self.max_pool(x).reshape(b, c))
        w = (a + m).reshape(b, c, 1, 1)
        return x * w if self.mode == "scale" else w


class MultimodalAttentionFusion(nn.Module):
    """EfficientNet-B0 image branch + small CNN audio branch + MLP head (any batch size)."""

    def __init__(self, num_classes=7, audio_attention="replace", n_mels=64):
        super().__init__()
        if audio_attention not in AUDIO_ATTENTION_MODES:
            raise ValueError("audio_attention must be one of %s" % (AUDIO_ATTENTION_MODES,))
        if num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        self.audio_attention = audio_attention
        self.num_classes = num_classes
        self.img_encoder = torchvision.models.efficientnet_b0(weights=None)
        self.img_encoder.classifier = nn.Identity()
        self.img_attn = ChannelAttention(1280)
        self.audio_encoder = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            ChannelAttention(32, mode="weights" if audio_attention == "replace" else "scale"),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fusion = nn.Sequential(
            nn.Linear(1280 + 64, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
        )
        self.classifier = nn.Linear(512, num_classes)

    def image_features(self, img):
        """[B,3,H,W] -> the attended 1280-d image feature [B,1280]."""
        f = self.img_encoder(img)                     # [B, 1280]
        b = f.shape[0]
        f4 = f.reshape(b, 1280, 1, 1)
        return (f4 * self.img_attn(f4)).reshape(b, 1280)

    def audio_features(self, mel):
        """[B,n_mels,T] -> [B,64]."""
        b = mel.shape[0]
        return self.audio_encoder(mel.unsqueeze(1)).reshape(b, 64)

    def forward(self, img, mel):
        x = torch.cat([self.image_features(img), self.audio_features(mel)], dim=1)
        return self.classifier(self.fusion(x))


def build(num_classes=7, audio_attention="replace"):
    """A model in eval mode."""
    return MultimodalAttentionFusion(num_classes, audio_attention).eval()


def preprocess_frames(frames_u8, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """uint8 RGB [B,H,W,3] -> float32 [B,3,H,W] as torchvision's ToTensor + Normalize
    compute it (x / 255 in float32, then (x - mean) / std with float32 mean and std)."""
    x = torch.as_tensor(frames_u8).permute(0, 3, 1, 2).contiguous().float().div(255)
    m = torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1)
    return x.sub(m).div(s)


def load_state_dict_file(path):
    """A state_dict from a .pt/.pth file that holds the dict itself or a dict with a
    'state_dict' or 'model_state_dict' entry (what training scripts usually save)."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for k in ("state_dict", "model_state_dict"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError("%s: not a state_dict (a dict of tensors)" % path)
    return obj


@torch.no_grad()
def reestimate_batchnorm(model, batches):
    """Replaces every BatchNorm's running statistics by the plain average over
    `batches` (a list of (img, mel)) of train-mode forward passes (momentum None),
    so a random model's activations keep their scale through the network."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for img, mel in batches:
        model(img, mel)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return model
