"""Full training steps (forward + backward + optimizer) written once for any library with PyTorch's
API, so lamina and PyTorch run the same model: `make_training_step(lib, name)` returns a zero-argument step.

    mlp     784-512-256-10 MLP, batch 128, SGD with momentum
    cnn     MNIST-shaped CNN (two conv blocks), batch 64, Adam
    resnet  ResNet-style CIFAR net with BatchNorm (three stages of residual blocks), batch 64, SGD
    vae, dcgan, ddpm, finetune: the course examples' steps (bench/course_models.py)

Used by compare_torch.py (lamina/PyTorch ratios) and contention.py (threads beside a busy process).
"""

import numpy as np

from course_models import COURSE_MODELS, make_course_step

MODELS = ("mlp", "cnn", "resnet")
ALL_MODELS = MODELS + COURSE_MODELS


def _mlp(nn):
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def _resnet(nn):
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        Block(32, 32, 1), Block(32, 64, 2), Block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def make_training_step(lib, name):
    """A training step of model `name` in library `lib` (lamina or torch) on fixed random data."""
    if name in COURSE_MODELS:
        return make_course_step(lib, name)
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    if name == "mlp":
        model, batch, shape = _mlp(lib.nn), 128, (784,)
        optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    elif name == "cnn":
        model, batch, shape = _cnn(lib.nn), 64, (1, 28, 28)
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    elif name == "resnet":
        model, batch, shape = _resnet(lib.nn), 64, (3, 32, 32)
        optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {ALL_MODELS}")
    x = lib.from_numpy(rng.standard_normal((batch,) + shape).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, 10, batch).astype(np.int64))
    loss_fn = lib.nn.CrossEntropyLoss()
    model.train()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step
