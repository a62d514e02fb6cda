"""Every architecture builds and trains a step on a tiny input."""

from __future__ import annotations

import pytest
import torch

from agent.training.models import ModelError, build_model


@pytest.mark.parametrize("architecture", ["mlp", "cnn", "resnet18"])
def test_forward_and_backward_on_a_tiny_image(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_model(architecture, (3, 8, 8), num_classes=5)
    out = model(torch.randn(4, 3, 8, 8))
    assert out.shape == (4, 5)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_resnet50_forward_on_a_small_image() -> None:
    model = build_model("resnet50", (1, 8, 8), num_classes=3)
    with torch.no_grad():
        out = model(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 3)
    # 2048 features into the head: the Bottleneck expansion is there.
    assert model.head[-1].in_features == 2048


def test_resnet18_has_the_usual_size() -> None:
    # torchvision's resnet18 has 11.7M parameters; the small-image stem changes only the first conv.
    count = sum(p.numel() for p in build_model("resnet18", (3, 32, 32), 10).parameters())
    assert 11_000_000 < count < 11_300_000


def test_mlp_takes_tabular_and_image_input() -> None:
    assert build_model("mlp", (16,), 4)(torch.randn(2, 16)).shape == (2, 4)
    assert build_model("mlp", (1, 5, 5), 2)(torch.randn(2, 1, 5, 5)).shape == (2, 2)


@pytest.mark.parametrize("architecture", ["cnn", "resnet18", "resnet50"])
def test_image_architectures_refuse_tabular_input(architecture: str) -> None:
    with pytest.raises(ValueError, match="needs image input"):
        build_model(architecture, (16,), 4)


def test_unknown_architecture_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown architecture 'vgg'"):
        build_model("vgg", (3, 8, 8), 4)
