"""The architectures a training task can name, written with torch.nn.

Input shapes exclude the batch dimension: `(features,)` for tabular data,
`(channels, height, width)` for images. The MLP takes either (images are
flattened). The CNN and the ResNets need images and raise `ModelError` (a
`ValueError`) for tabular input: reshaping features into a fake image would
train, but on a spatial structure the data does not have.

The ResNets follow He et al. (BasicBlock for 18, Bottleneck for 50) with the
stem adapted to small images, as is usual for CIFAR-sized inputs: a 3x3
stride-1 convolution and no max-pool, so that 32x32 images still have a 4x4
map in the last stage. Global average pooling makes any image size work.

VGG-16 is configuration D of Simonyan and Zisserman: thirteen 3x3 convolutions
in five blocks, each block ending in a 2x2 max-pool, then three fully connected
layers with dropout. Batch normalisation follows each convolution (as
torchvision's vgg16_bn), which lets it train from scratch in a few epochs. For
small images the pools round up (ceil_mode), so a 16x16 image reaches the last
block as 1x1 instead of vanishing, and the map is average-pooled to 1x1 rather
than 7x7; the fully connected layers are therefore 512 wide instead of 4096
(the usual CIFAR adaptation: 15M parameters instead of 138M).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from agent.errors import TrainingError
from taskspec.checkpoint import checkpoint_info
from taskspec.errors import SpecError
from taskspec.training import ARCHITECTURES, IMAGE_ARCHITECTURES


class ModelError(TrainingError, ValueError):
    """The architecture cannot be built for this input."""


@dataclass(frozen=True)
class BaseModel:
    """A model of the registry to train further: its checkpoint's weights and what they were built for."""

    #: The registry's name of it, for messages and the new checkpoint's `continued_from`.
    name: str
    architecture: str
    input_shape: tuple[int, ...]
    num_classes: int
    state_dict: dict[str, Tensor]


def load_base_model(path: Path, name: str) -> BaseModel:
    """Read a registry model's checkpoint (`weights_only`: its pickle may hold tensors and plain data only)."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
        info = checkpoint_info(content, name)
    except SpecError as exc:
        raise ModelError(str(exc)) from exc
    except Exception as exc:  # torch raises many kinds for a file it cannot load; all mean the same here
        raise ModelError(f"model {name!r} is not a loadable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    return BaseModel(name, info.architecture, info.input_shape, info.num_classes, content["model_state_dict"])


#: The architecture a checkpoint of create_model() code records (it is none of the built-in ones).
CODE_ARCHITECTURE = "code"


@dataclass(frozen=True)
class CodeModel:
    """A model_url's code: its create_model() gives the module (and maybe the optimizer) to train."""

    #: Where the code came from, for messages and the checkpoint's `continued_from`.
    name: str
    path: Path

    def create(self, input_shape: Sequence[int], num_classes: int) -> tuple[nn.Module, torch.optim.Optimizer | None]:
        """Run the code and create_model(); TrainingError unless it gives a module that maps a batch of
        `input_shape` to `num_classes` outputs (and, when it gives one, an optimizer)."""
        namespace: dict[str, object] = {"__name__": "aifarm_model_code", "__file__": str(self.path)}
        try:
            exec(compile(self.path.read_text(encoding="utf-8"), str(self.path), "exec"), namespace)  # noqa: S102
            made = namespace["create_model"]()  # type: ignore[operator]
        except Exception as exc:
            raise ModelError(f"model {self.name!r}: create_model() failed: {type(exc).__name__}: {exc}") from exc
        model, optimizer = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
        if not isinstance(model, nn.Module):
            raise ModelError(f"model {self.name!r}: create_model() gave {type(model).__name__}, not a torch.nn.Module"
                             " (or a (module, optimizer) pair)")  # fmt: skip
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise ModelError(f"model {self.name!r}: create_model()'s second value is {type(optimizer).__name__},"
                             " not a torch.optim.Optimizer")  # fmt: skip
        _probe(model, tuple(input_shape), num_classes, self.name)
        return model, optimizer


def _probe(model: nn.Module, input_shape: tuple[int, ...], num_classes: int, name: str) -> None:
    """One sample through the model: say plainly when it does not fit the data, before training."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape)))
    except Exception as exc:
        raise ModelError(f"model {name!r} cannot take input of shape {input_shape}: {type(exc).__name__}: {exc}") from exc
    finally:
        model.train(was_training)
    if not isinstance(out, Tensor) or tuple(out.shape) != (1, num_classes):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ModelError(f"model {name!r} gives {shape} for one sample; the data has {num_classes} classes,"
                         f" so it must give (1, {num_classes})")  # fmt: skip


def build_model(architecture: str, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """A freshly initialised model mapping a batch of `input_shape` to `num_classes` logits."""
    shape = tuple(int(d) for d in input_shape)
    if architecture not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}")
    if num_classes < 1:
        raise ModelError(f"num_classes must be at least 1, got {num_classes}")
    if not shape or any(d < 1 for d in shape):
        raise ModelError(f"input shape {shape} is invalid")
    if architecture == "mlp":
        return MLP(math.prod(shape), num_classes)
    if len(shape) != 3:
        raise ModelError(
            f"architecture {architecture!r} needs image input (channels, height, width), got shape {shape}; use 'mlp' for tabular data"
        )
    channels = shape[0]
    if architecture == "cnn":
        return SmallCNN(channels, num_classes)
    if architecture == "resnet18":
        return ResNet(BasicBlock, (2, 2, 2, 2), channels, num_classes)
    if architecture == "vgg16":
        return VGG(VGG16_LAYERS, channels, num_classes)
    assert architecture in IMAGE_ARCHITECTURES
    return ResNet(Bottleneck, (3, 4, 6, 3), channels, num_classes)


class MLP(nn.Module):
    """Two hidden layers over the flattened input."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(inplace=True),
            nn.Linear(hidden // 2, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Three conv blocks, then global average pooling; works for any image size."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(in_channels, 32),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_block(32, 64),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_block(64, 128),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand by 4, with a residual connection (ResNet-50+)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """Four stages of residual blocks (64, 128, 256, 512 wide), stages 2-4 halving the map."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        in_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        stages: list[nn.Module] = []
        cin = 64
        for index, (width, count) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks: list[nn.Module] = []
            for position in range(count):
                stride = 2 if index > 0 and position == 0 else 1
                blocks.append(block(cin, width, stride))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        # Zero the last BN of each residual branch so every block starts as the identity,
        # which makes short training runs noticeably more stable (Goyal et al.).
        for module in self.modules():
            if isinstance(module, Bottleneck):
                nn.init.zeros_(module.bn3.weight)
            elif isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))


#: VGG configuration D: output channels of each 3x3 convolution, "M" a 2x2 max-pool.
VGG16_LAYERS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                      512, 512, 512, "M")  # fmt: skip


class VGG(nn.Module):
    """Blocks of 3x3 convolutions and max-pools, then three fully connected layers with dropout."""

    def __init__(self, layers: Sequence[int | str], in_channels: int, num_classes: int, hidden: int = 512) -> None:
        super().__init__()
        features: list[nn.Module] = []
        cin = in_channels
        for layer in layers:
            if layer == "M":
                features.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                assert isinstance(layer, int)
                features.append(_conv_block(cin, layer))
                cin = layer
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(hidden, num_classes),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)))
