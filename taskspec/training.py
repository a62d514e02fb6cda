"""The training spec: what a training task asks for, its defaults and its ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from taskspec.errors import SpecError

ARCHITECTURES = ("mlp", "cnn", "resnet18", "resnet50", "vgg16")
#: Architectures that need image input (channels, height, width).
IMAGE_ARCHITECTURES = ("cnn", "resnet18", "resnet50", "vgg16")
#: An architecture may instead name a model of the registry, "models/{name}", to continue training it.
MODEL_PREFIX = "models/"
#: A model of the registry's name (checked here for both sides: it is a file name on each).
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
LOSSES = ("cross_entropy", "mse", "mae", "bce")
DEVICES = ("auto", "cpu", "cuda")

#: Schemes a model_url may have.
MODEL_URL_SCHEMES = ("http", "https", "file")
_MAX_URL = 2048

DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 0.001
DEFAULT_VALIDATION_SPLIT = 0.2
#: The artifact a training attempt leaves: its last checkpoint (`torch.save` of the weights).
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class SyntheticData:
    """A learnable labelled dataset generated from the seed."""

    #: Number of samples.
    samples: int = 512
    #: Features per sample of tabular data; ignored for images.
    features: int = 16
    #: Number of classes.
    classes: int = 4
    #: Image side in pixels; 0 makes tabular data.
    image_size: int = 0
    #: Image channels (used only when image_size > 0).
    channels: int = 3

    @property
    def is_image(self) -> bool:
        return self.image_size > 0


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of one run, defaults already applied."""

    architecture: str
    epochs: int
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    optimizer: str = "adam"
    loss_function: str = "cross_entropy"
    validation_split: float = DEFAULT_VALIDATION_SPLIT
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class TrainingSpec:
    """A training task: its hyperparameters and its data (a dataset of the library, or synthetic)."""

    config: TrainingConfig
    #: Id of a dataset of the controller's library; "" when the data is synthetic.
    dataset: str = ""
    synthetic: SyntheticData | None = field(default=None)
    #: A model to start from outside the registry (http(s)/file URL), and the Version header sent with it.
    model_url: str = ""
    model_version: str = ""

    def validate(self) -> None:
        """Raise `SpecError` naming the first thing out of range."""
        validate_config(self.config)
        if bool(self.dataset) == (self.synthetic is not None):
            raise SpecError("training needs data: set exactly one of dataset or synthetic")
        if self.synthetic is not None:
            validate_synthetic(self.synthetic, self.config.architecture)
        validate_model_url(self.model_url, self.model_version, self.config.architecture)


def validate_model_url(url: str, version: str, architecture: str) -> None:
    """Raise `SpecError` for a model_url that is not an http(s)/file URL, or that a registry model contradicts."""
    if not url:
        _check(not version, "model_version needs a model_url")
        return
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    _check(scheme in MODEL_URL_SCHEMES, f"model_url {url[:80]!r} must be an http://, https:// or file:// URL")
    _check(len(url) <= _MAX_URL and url.isprintable() and " " not in url, f"model_url must be at most {_MAX_URL}"
           " printable characters without spaces")  # fmt: skip
    _check(registry_model(architecture) is None, f"model_url and a registry model ({architecture}) both name the"
           " model to start from: give one")  # fmt: skip
    _check(len(version) <= 128 and version.isprintable(), "model_version must be at most 128 printable characters")


def validate_config(config: TrainingConfig) -> None:
    """Raise `SpecError` naming the first field out of range."""
    _check(
        config.architecture in ARCHITECTURES or registry_model(config.architecture) is not None,
        f"architecture {config.architecture!r} is not one of {', '.join(ARCHITECTURES)}"
        f" nor a model of the registry ({MODEL_PREFIX}NAME)",
    )
    _check(1 <= config.epochs <= 1000, f"epochs must be 1 to 1000, got {config.epochs}")
    _check(1 <= config.batch_size <= 256, f"batch_size must be 1 to 256, got {config.batch_size}")
    _check(0.0001 <= config.learning_rate <= 1.0, f"learning_rate must be 0.0001 to 1.0, got {config.learning_rate}")
    _check(config.optimizer in OPTIMIZERS, f"optimizer {config.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    _check(config.loss_function in LOSSES, f"loss_function {config.loss_function!r} is not one of {', '.join(LOSSES)}")
    _check(0.0 < config.validation_split < 1.0, f"validation_split must be between 0 and 1, got {config.validation_split}")
    _check(config.device in DEVICES, f"device {config.device!r} is not one of {', '.join(DEVICES)}")


def registry_model(architecture: str) -> str | None:
    """The registry model an architecture names ("models/NAME" -> "NAME"), or None for a built-in one."""
    if not architecture.startswith(MODEL_PREFIX):
        return None
    name = architecture.removeprefix(MODEL_PREFIX)
    return name if MODEL_NAME.match(name) and ".." not in name else None


def validate_synthetic(data: SyntheticData, architecture: str) -> None:
    """Raise `SpecError` for sizes out of range or data the architecture cannot take."""
    _check(2 <= data.samples <= 1_000_000, f"synthetic samples must be 2 to 1000000, got {data.samples}")
    _check(2 <= data.classes <= 1000, f"synthetic classes must be 2 to 1000, got {data.classes}")
    _check(0 <= data.image_size <= 512, f"synthetic image_size must be 0 to 512, got {data.image_size}")
    if data.is_image:
        _check(1 <= data.channels <= 16, f"synthetic channels must be 1 to 16, got {data.channels}")
        values = data.samples * data.channels * data.image_size**2
    else:
        _check(1 <= data.features <= 100_000, f"synthetic features must be 1 to 100000, got {data.features}")
        values = data.samples * data.features
    # float32: keep a generated dataset under 2 GiB.
    _check(values <= 512 * 1024 * 1024, f"synthetic dataset of {values} values is too large")
    _check(
        data.is_image or architecture not in IMAGE_ARCHITECTURES,
        f"architecture {architecture!r} needs image data; set synthetic.image_size or use 'mlp'",
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SpecError(message)
