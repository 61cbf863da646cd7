#!/usr/bin/env python3
"""Writes tiny pretrained-encoder stand-ins as ONNX files, exported from PyTorch, plus the
PyTorch outputs on recorded inputs (so meddl's OnnxSession can be checked against PyTorch without
Python at test time). Run from the repository root with Debian's python3-torch and python3-onnx:

    /usr/bin/python3 packages/mdf-net/scripts/make_onnx_encoders.py

Writes packages/mdf-net/fixtures/encoders/:
  image_encoder.onnx  pixel_values float32 [batch, 3, 32, 32] -> embeddings float32 [batch, 16]
  text_encoder.onnx   input_ids int64 [batch, seq], attention_mask int64 [batch, seq]
                      -> embeddings float32 [batch, 16]
  encoders.json       inputs and torch outputs for two batches per encoder

These are the signatures mdf-net expects of any pretrained encoder brought as ONNX (a CLIP or
TorchXRayVision image tower, a BERT text tower): see docs/mdf-net.md.
"""

import inspect
import json
import os

import onnx
import torch
from torch import nn

torch.manual_seed(20261123)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "encoders")
EMBED = 16
IMAGE = 32
VOCAB = 512
SEQ = 64


class ImageEncoder(nn.Module):
    """Two stride-2 conv/ReLU stages, global average pool, linear projection."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.proj = nn.Linear(16, EMBED)

    def forward(self, pixel_values):
        x = torch.relu(self.conv1(pixel_values))
        x = torch.relu(self.conv2(x))
        return self.proj(x.mean(dim=(2, 3)))


class TextEncoder(nn.Module):
    """Token + position embeddings, one masked single-head self-attention block, masked mean pool."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, EMBED)
        self.positions = nn.Parameter(torch.randn(SEQ, EMBED) * 0.1)
        self.norm = nn.LayerNorm(EMBED)
        self.qkv = nn.Linear(EMBED, 3 * EMBED)
        self.out = nn.Linear(EMBED, EMBED)

    def forward(self, input_ids, attention_mask):
        seq = input_ids.shape[1]
        x = self.norm(self.tokens(input_ids) + self.positions[:seq])
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        mask = attention_mask.to(torch.float32)  # [B, L]
        scores = q @ k.transpose(1, 2) / (EMBED**0.5) + (1.0 - mask[:, None, :]) * -1e4
        h = x + self.out(torch.softmax(scores, dim=-1) @ v)
        m = mask[:, :, None]
        return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def export(model, args, path, input_names, dynamic_axes):
    kwargs = dict(
        input_names=input_names,
        output_names=["embeddings"],
        dynamic_axes=dynamic_axes,
        opset_version=17,
        do_constant_folding=True,
    )
    # The TorchScript exporter; newer torch defaults to the dynamo one.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(model, args, path, **kwargs)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def tolist(t):
    return {"dims": list(t.shape), "data": t.detach().reshape(-1).tolist()}


os.makedirs(OUT, exist_ok=True)
image = ImageEncoder().eval()
text = TextEncoder().eval()
export(
    image,
    (torch.randn(2, 3, IMAGE, IMAGE),),
    os.path.join(OUT, "image_encoder.onnx"),
    ["pixel_values"],
    {"pixel_values": {0: "batch"}, "embeddings": {0: "batch"}},
)
export(
    text,
    (torch.randint(0, VOCAB, (2, SEQ)), torch.ones(2, SEQ, dtype=torch.int64)),
    os.path.join(OUT, "text_encoder.onnx"),
    ["input_ids", "attention_mask"],
    {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "embeddings": {0: "batch"}},
)

cases = {"image": [], "text": []}
with torch.no_grad():
    for batch in (1, 3):
        # Multiples of 1/64: exact in float32 and short in JSON.
        x = torch.randint(-128, 128, (batch, 3, IMAGE, IMAGE)).to(torch.float32) / 64
        cases["image"].append({"pixel_values": tolist(x), "embeddings": tolist(image(x))})
    for batch, seq in ((1, SEQ), (3, 20)):
        ids = torch.randint(0, VOCAB, (batch, seq))
        lengths = torch.randint(1, seq + 1, (batch,))
        mask = (torch.arange(seq)[None, :] < lengths[:, None]).to(torch.int64)
        ids = ids * mask
        cases["text"].append(
            {"input_ids": tolist(ids), "attention_mask": tolist(mask), "embeddings": tolist(text(ids, mask))}
        )
with open(os.path.join(OUT, "encoders.json"), "w") as f:
    json.dump({"producer": f"torch {torch.__version__}, onnx {onnx.__version__}", "cases": cases}, f)
for name in ("image_encoder.onnx", "text_encoder.onnx", "encoders.json"):
    print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
