# PyTorch twin of mil.mjs (same architecture, bag, optimizer, threads). Prints the median step time (s).
import os, time
import torch

torch.set_num_threads(int(os.environ.get("MEDDL_THREADS", os.cpu_count())))
torch.manual_seed(1)
steps = int(os.environ.get("STEPS", "5"))
N, F = 4096, 1024

class GatedMIL(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(F, 512)
        self.v = torch.nn.Linear(512, 256)
        self.u = torch.nn.Linear(512, 256)
        self.w = torch.nn.Linear(256, 1)
        self.cls = torch.nn.Linear(512, 2)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        a = torch.softmax(self.w(torch.tanh(self.v(h)) * torch.sigmoid(self.u(h))).view(1, N), dim=1)
        return self.cls(a @ h)

model = GatedMIL()
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
x = torch.randn(N, F)
y = torch.tensor([1])

def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()

step()
ts = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    ts.append(time.perf_counter() - t)
ts.sort()
print(ts[len(ts) // 2])
