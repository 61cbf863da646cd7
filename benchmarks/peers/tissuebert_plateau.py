"""Which read classifiers leave the ln(22) plateau on the synthetic TissueBERT store, and how fast.

The diagnosis behind docs/tissuebert.md "Why the transformer does not learn within the budget".
It trains a PyTorch model on the reads of a prepared store (`meddl tissuebert prepare`), with the
same file split as the small run (20 % of each tissue's files held out, seeded) and tissue-balanced
sampling of files, reads drawn in proportion to their pat counts, and prints the held-out balanced
accuracy every 100 steps. Exploratory: not run by the suite or the tests.

  python3 benchmarks/peers/tissuebert_plateau.py .data/tissuebert/store.h5 --arch conv --pool max

--arch conv: one 1-D convolution over one-hot (3-mer token ⊕ methylation state) inputs, ReLU,
then (with --layers N) learned positions, LayerNorm and N encoder layers, pooling, linear head.
--arch transformer: the TissueBERT layout (summed token, state and learned position embeddings,
LayerNorm, post-LN encoder layers with GELU, pooling, linear head).
"""

import argparse
import json
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, STATES, TISSUES = 69, 3, 22


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--arch", choices=["conv", "transformer"], default="conv")
    ap.add_argument("--pool", choices=["mean", "max", "cpg"], default="max", help="cpg: mean over tokens with a call")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=None, help="encoder layers (default: 2 for transformer, 0 for conv)")
    ap.add_argument("--kernel", type=int, default=7)
    ap.add_argument("--no-positions", action="store_true", help="no position embeddings ahead of the encoder")
    ap.add_argument("--norm-first", action="store_true", help="pre-LN encoder layers (TissueBERT's are post-LN, as BERT's)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    with h5py.File(a.store, "r") as f:
        S = f["samples"]
        data = [
            (np.array(S[k]["tokens"]), np.array(S[k]["methylation"]), int(S[k].attrs["label"]), np.array(S[k]["count"]))
            for k in sorted(S.keys())
        ]
    length = data[0][0].shape[1]
    labels = np.array([d[2] for d in data])
    val = set()
    for t in range(TISSUES):
        idx = [i for i in range(len(data)) if labels[i] == t]
        rng.shuffle(idx)
        val.update(idx[: int(round(len(idx) * 0.2))])
    train = [i for i in range(len(data)) if i not in val]
    n_per_tissue = np.bincount(labels[train], minlength=TISSUES)
    file_w = np.array([1 / n_per_tissue[labels[i]] for i in train])
    file_w /= file_w.sum()

    def batch(files, n, weights=None):
        tk, me, y = [], [], []
        for _ in range(n):
            i = files[rng.choice(len(files), p=weights)] if weights is not None else files[rng.integers(len(files))]
            tok, meth, label, count = data[i]
            e = rng.choice(len(count), p=count / count.sum())
            tk.append(tok[e])
            me.append(meth[e])
            y.append(label)
        return (
            torch.tensor(np.array(tk), dtype=torch.long),
            torch.tensor(np.array(me), dtype=torch.long),
            torch.tensor(y),
        )

    H = a.hidden
    layers = a.layers if a.layers is not None else (2 if a.arch == "transformer" else 0)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            if a.arch == "conv":
                self.conv = nn.Conv1d(VOCAB + STATES, H, a.kernel, padding=a.kernel // 2)
            else:
                self.tok = nn.Embedding(VOCAB, H)
                self.meth = nn.Embedding(STATES, H)
            self.pos = nn.Embedding(length, H)
            self.ln = nn.LayerNorm(H)
            layer = nn.TransformerEncoderLayer(H, 4, 4 * H, 0.1, batch_first=True, activation="gelu", norm_first=a.norm_first)
            self.enc = nn.TransformerEncoder(layer, layers) if layers > 0 else None
            self.head = nn.Linear(H, TISSUES)

        def forward(self, tok, meth):
            if a.arch == "conv":
                x = torch.cat([F.one_hot(tok, VOCAB), F.one_hot(meth, STATES)], -1).float().transpose(1, 2)
                h = torch.relu(self.conv(x)).transpose(1, 2)
            else:
                h = self.tok(tok) + self.meth(meth)
            if self.enc is not None:
                h = self.enc(self.ln(h if a.no_positions else h + self.pos.weight[None]))
            if a.pool == "max":
                return self.head(h.max(1).values)
            if a.pool == "cpg":
                w = (meth < 2).float()[..., None]
                return self.head((h * w).sum(1) / w.sum(1).clamp(min=1))
            return self.head(h.mean(1))

    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    held_out = [batch(sorted(val), 256) for _ in range(6)]
    t0 = time.time()
    for step in range(1, a.steps + 1):
        model.train()
        tok, meth, y = batch(train, a.batch, file_w)
        loss = F.cross_entropy(model(tok, meth), y, label_smoothing=a.label_smoothing)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            model.eval()
            yt, yp = [], []
            with torch.no_grad():
                for tok, meth, y in held_out:
                    yp += model(tok, meth).argmax(1).tolist()
                    yt += y.tolist()
            yt, yp = np.array(yt), np.array(yp)
            bal = float(np.mean([np.mean(yp[yt == t] == t) for t in np.unique(yt)]))
            print(json.dumps({"step": step, "loss": round(loss.item(), 3), "heldOutBalancedAccuracy": round(bal, 3), "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
