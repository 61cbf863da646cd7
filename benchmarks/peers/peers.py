# PyTorch peers of the four meddl architectures, for benchmarks/suite/run.mjs.
# Each builds the same layers as the TypeScript model (same parameter counts: the suite checks them),
# runs warm-up, then times `steps` training steps (Adam, lr 1e-3) and `steps` inference forwards
# (eval mode, no_grad) on the same batch shapes, and prints one JSON object on stdout:
#   {"params": N, "trainable": N, "train": [s, ...], "inference": [s, ...], "first": {"train": s,
#    "inference": s} (the first warm-up step in this fresh process), "rss": {"train": bytes,
#    "inference": bytes} (peak RSS over the timed steps: VmHWM reset after the warm-up),
#    "torch": "2.x", "threads": T}
# Input (JSON on stdin): {"model", "config", "batch", "seq", "bag", "steps", "warmup", "threads"}.
import copy
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

spec = json.load(sys.stdin)
threads = int(spec["threads"])
torch.set_num_threads(threads)
torch.manual_seed(0)
c = spec["config"]
B = int(spec["batch"])


def encoder_layer(d, heads, ff, dropout, norm_first, eps):
    return nn.TransformerEncoderLayer(
        d, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=norm_first, layer_norm_eps=eps
    )


def masked_mean(h, keep):
    m = keep.unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


# ---- TissueBERT: BERT-style post-norm encoder over 3-mer tokens + methylation states -------------
class TissueBert(nn.Module):
    def __init__(self):
        super().__init__()
        H = c["hidden"]
        self.tok = nn.Embedding(c["vocabSize"], H, padding_idx=0)
        self.meth = nn.Embedding(c["methylationStates"], H)
        self.pos = nn.Embedding(c["maxPositions"], H)
        self.norm = nn.LayerNorm(H, eps=c["layerNormEps"])
        self.drop = nn.Dropout(c["dropout"])
        layer = encoder_layer(H, c["heads"], c["ffn"], c["dropout"], False, c["layerNormEps"])
        self.encoder = nn.TransformerEncoder(layer, c["layers"], enable_nested_tensor=False)
        self.head = nn.Linear(H, c["numClasses"])

    def forward(self, ids, meth):
        L = ids.shape[1]
        x = self.drop(self.norm(self.tok(ids) + self.meth(meth) + self.pos(torch.arange(L))))
        pad = ids == 0
        return self.head(masked_mean(self.encoder(x, src_key_padding_mask=pad), ~pad))


def tissuebert_inputs():
    L = int(spec["seq"])
    ids = torch.randint(5, c["vocabSize"], (B, L))
    meth = torch.randint(0, c["methylationStates"], (B, L))
    y = torch.randint(0, c["numClasses"], (B,))
    return (ids, meth), lambda out: F.cross_entropy(out, y)


# ---- Gated-attention MIL (CLAM_SB layout) over one bag of patch features --------------------------
class GatedAttentionMil(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(c["inDim"]))
        self.register_buffer("feature_std", torch.ones(c["inDim"]))
        self.fc = nn.Linear(c["inDim"], c["hidden"])
        self.attention_a = nn.Linear(c["hidden"], c["attnDim"])
        self.attention_b = nn.Linear(c["hidden"], c["attnDim"])
        self.attention_c = nn.Linear(c["attnDim"], 1)
        self.classifier = nn.Linear(c["hidden"], c["numClasses"])
        self.drop = nn.Dropout(c["dropout"])

    def forward(self, bag):
        h = self.drop(F.relu(self.fc((bag - self.feature_mean) / self.feature_std)))
        s = self.attention_c(torch.tanh(self.attention_a(h)) * torch.sigmoid(self.attention_b(h))).reshape(-1)
        a = torch.softmax(s, 0)
        return self.classifier(a.reshape(1, -1) @ h)


def mil_inputs():
    bag = torch.randn(int(spec["bag"]), c["inDim"])
    y = torch.tensor([1])
    return (bag,), lambda out: F.cross_entropy(out, y)


# ---- MDF-Net: CNN image + pre-norm text transformer + clinical MLP, concat fusion, 2-layer head ---
class MdfNet(nn.Module):
    def __init__(self):
        super().__init__()
        E = c["embedDim"]
        widths = [1] + c["imageChannels"]
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], w, 3, stride=2, padding=1) for i, w in enumerate(c["imageChannels"])
        )
        self.img_proj = nn.Linear(widths[-1], E)
        self.tok = nn.Embedding(c["vocabSize"], E, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(c["maxTokens"], E) * 0.02)
        self.embed_norm = nn.LayerNorm(E)
        layer = encoder_layer(E, c["textHeads"], c["textFfn"], c["textDropout"], True, 1e-5)
        self.text = nn.TransformerEncoder(layer, c["textLayers"], norm=nn.LayerNorm(E), enable_nested_tensor=False)
        self.sex = nn.Embedding(spec["sexCategories"], c["categoricalDim"])
        self.acuity = nn.Embedding(spec["acuityCategories"], c["categoricalDim"])
        self.clin = nn.Sequential(
            nn.Linear(spec["clinicalDim"] + 2 * c["categoricalDim"], c["clinicalHidden"]),
            nn.ReLU(),
            nn.Dropout(c["clinicalDropout"]),
            nn.Linear(c["clinicalHidden"], E),
        )
        self.fusion = nn.Linear(3 * E, c["fusionDim"])
        self.fusion_drop = nn.Dropout(c["fusionDropout"])
        d1, d2 = c["headDropouts"]
        self.head = nn.Sequential(
            nn.Dropout(d1), nn.Linear(c["fusionDim"], c["headHidden"]), nn.ReLU(), nn.Dropout(d2),
            nn.Linear(c["headHidden"], c["numLabels"]),
        )

    def forward(self, images, ids, attention, clinical, sex, acuity):
        x = images.unsqueeze(1)
        for conv in self.convs:
            x = F.relu(conv(x))
        img = self.img_proj(x.mean((2, 3)))
        L = ids.shape[1]
        t = self.embed_norm(self.tok(ids) + self.pos[:L])
        txt = masked_mean(self.text(t, src_key_padding_mask=attention == 0), attention != 0)
        cl = self.clin(torch.cat([clinical, self.sex(sex), self.acuity(acuity)], 1))
        z = self.fusion_drop(F.relu(self.fusion(torch.cat([img, txt, cl], 1))))
        return self.head(z)


def mdf_inputs():
    S, L = c["imageSize"], c["maxTokens"]
    images = torch.randn(B, S, S)
    ids = torch.randint(1, c["vocabSize"], (B, L))
    attention = torch.ones(B, L, dtype=torch.int32)
    clinical = torch.randn(B, spec["clinicalDim"])
    sex = torch.randint(0, spec["sexCategories"], (B,))
    acuity = torch.randint(0, spec["acuityCategories"], (B,))
    y = (torch.rand(B, c["numLabels"]) < 0.3).float()
    return (images, ids, attention, clinical, sex, acuity), lambda out: F.binary_cross_entropy_with_logits(out, y)


# ---- V-JEPA 3D: ViT context encoder, narrow transformer predictor, frozen EMA target encoder -------
def vit_blocks(d, depth, heads, ratio):
    layer = encoder_layer(d, heads, round(d * ratio), 0.0, True, 1e-6)
    return nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(d, eps=1e-6), enable_nested_tensor=False)


class Vit3d(nn.Module):
    def __init__(self, n_tokens, k):
        super().__init__()
        D = c["embedDim"]
        self.patch_embed = nn.Linear(k, D)  # Conv3d(1, D, kernel=stride=tubelet) on pre-cut tubelets
        self.register_buffer("pos", torch.randn(n_tokens, D) * 0.02)  # fixed sin-cos in meddl (no params)
        self.blocks = vit_blocks(D, c["depth"], c["numHeads"], c["mlpRatio"])

    def forward(self, tubelets, keep=None):
        x = self.patch_embed(tubelets) + self.pos
        if keep is not None:
            x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self.blocks(x)


class VJepa3d(nn.Module):
    def __init__(self, n_tokens, k):
        super().__init__()
        D, P = c["embedDim"], c["predictorDim"]
        self.encoder = Vit3d(n_tokens, k)
        self.predictor_embed = nn.Linear(D, P)
        self.mask_token = nn.Parameter(torch.randn(1, 1, P) * 0.02)
        self.predictor_blocks = vit_blocks(P, c["predictorDepth"], c["predictorHeads"], c["mlpRatio"])
        self.predictor_proj = nn.Linear(P, D)
        self.register_buffer("ppos", torch.randn(n_tokens, P) * 0.02)
        self.target_encoder = copy.deepcopy(self.encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)

    def loss(self, tubelets, ctx, tgt):
        with torch.no_grad():
            h = F.layer_norm(self.target_encoder(tubelets), (c["embedDim"],))
        z = self.encoder(tubelets, ctx)
        b = tubelets.shape[0]
        x = torch.cat(
            [
                self.predictor_embed(z) + self.ppos[ctx],
                self.mask_token.expand(b, tgt.shape[1], -1) + self.ppos[tgt],
            ],
            1,
        )
        pred = self.predictor_proj(self.predictor_blocks(x)[:, ctx.shape[1] :])
        target = torch.gather(h, 1, tgt.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        return (pred - target).abs().mean()

    def forward(self, tubelets):
        return self.target_encoder(tubelets).mean(1)


def vjepa_grid():
    g = [n // t for n, t in zip(c["inputShape"], c["tubelet"])]
    k = c["tubelet"][0] * c["tubelet"][1] * c["tubelet"][2]
    return g[0] * g[1] * g[2], k


def vjepa_inputs():
    n, k = vjepa_grid()
    tubelets = torch.randn(B, n, k)
    perm = torch.stack([torch.randperm(n) for _ in range(B)])
    nc, nt = spec["nContext"], spec["nTarget"]
    ctx, tgt = perm[:, :nc], perm[:, nc : nc + nt]
    return (tubelets,), (ctx, tgt)


def build():
    m = spec["model"]
    if m == "tissuebert":
        return TissueBert(), tissuebert_inputs()
    if m == "crc-mil":
        return GatedAttentionMil(), mil_inputs()
    if m == "mdf-net":
        return MdfNet(), mdf_inputs()
    if m == "vjepa3d":
        return VJepa3d(*vjepa_grid()), vjepa_inputs()
    raise SystemExit(f"unknown model {m}")


model, (inputs, loss_of) = build()
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)


def train_step():
    model.train()
    opt.zero_grad()
    if spec["model"] == "vjepa3d":
        loss = model.loss(inputs[0], *loss_of)
    else:
        loss = loss_of(model(*inputs))
    loss.backward()
    opt.step()
    return loss.item()


def infer_step():
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    return float(out.sum())


first = {}
rss = {}


def reset_peak_rss():
    """Resets the kernel's RSS high-water mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    """VmHWM in bytes (falls back to ru_maxrss, the process lifetime peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn, name):
    for i in range(int(spec["warmup"])):
        t = time.perf_counter()
        fn()
        if i == 0:
            first[name] = time.perf_counter() - t  # first step in this fresh process
    # Peak RSS of this scenario's timed steps: the high-water mark reset after the warm-up.
    reset_peak_rss()
    ts = []
    for _ in range(int(spec["steps"])):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    rss[name] = peak_rss()
    return ts


scen = spec.get("scenarios", ["train-step", "inference"])
out = {
    "params": sum(p.numel() for p in model.parameters()),
    "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
}
if "train-step" in scen:
    out["train"] = timed(train_step, "train")
if "inference" in scen:
    out["inference"] = timed(infer_step, "inference")
out["first"] = first
out["rss"] = rss
print(json.dumps(out))
