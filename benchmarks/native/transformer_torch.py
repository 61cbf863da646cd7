# The PyTorch twin of transformer.mjs: same architecture, batch, optimizer and threads.
# Prints the median step time in seconds on its last line. Run by transformer.mjs.
import json, math, os, time
import torch

cfg = json.loads(os.environ.get("CFG", '{"batch":8,"seq":64,"dim":128,"heads":4,"ff":512,"layers":2,"vocab":1000,"classes":10}'))
steps = int(os.environ.get("STEPS", "5"))
threads = int(os.environ.get("MEDDL_THREADS", os.cpu_count()))
torch.set_num_threads(threads)
torch.manual_seed(1)
B, S, D, H, F = cfg["batch"], cfg["seq"], cfg["dim"], cfg["heads"], cfg["ff"]
hd = D // H

def w(*shape):
    return torch.nn.Parameter(torch.randn(*shape) * 0.02)

class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.o = torch.nn.Linear(D, D)
        self.ln2 = torch.nn.LayerNorm(D)
        self.f1 = torch.nn.Linear(D, F)
        self.f2 = torch.nn.Linear(F, D)

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).view(B, S, 3, H, hd).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, S, D))
        return x + self.f2(torch.nn.functional.gelu(self.f1(self.ln2(x))))

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = w(cfg["vocab"], D)
        self.pos = w(S, D)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(cfg["layers"])])
        self.lnf = torch.nn.LayerNorm(D)
        self.head = torch.nn.Linear(D, cfg["classes"])

    def forward(self, tokens):
        x = self.emb[tokens] + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.lnf(x).mean(1))

model = Model()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
tokens = torch.randint(0, cfg["vocab"], (B, S))
labels = torch.randint(0, cfg["classes"], (B,))

def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(tokens), labels)
    loss.backward()
    opt.step()
    return loss.item()

step()
ts = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    ts.append(time.perf_counter() - t)
ts.sort()
print(ts[len(ts) // 2])
