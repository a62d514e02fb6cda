"""AI Farm's `url` naming an aifarm model: the task trains from that registry model."""

from __future__ import annotations

import pytest

from aifarm.compat.aifarm.v1 import tasks_service_pb2 as pb
from controller.api.compat.aifarm.task_shapes import base_model, compat_metadata, training_spec
from controller.domain.errors import InvalidArgument


@pytest.mark.parametrize("url", ["/v1/models/resnet-a", "models/resnet-a", "resnet-a"])
def test_a_url_naming_an_aifarm_model_trains_from_it(url: str) -> None:
    request = pb.CreateTaskRequest(name="x", url=url, version="2")
    assert training_spec(request).architecture == "models/resnet-a"
    assert compat_metadata(request)["aifarm_version"] == "2"


@pytest.mark.parametrize("url", ["", "https://example.org/m.pt", "file:///tmp/m.pt"])
def test_a_fetched_url_keeps_the_architecture_and_becomes_the_model_url(url: str) -> None:
    assert base_model(url) is None
    spec = training_spec(pb.CreateTaskRequest(name="x", url=url, version="1.0"))
    assert spec.architecture == "mlp"
    assert (spec.model_url, spec.model_version) == ((url, "1.0") if url else ("", ""))


@pytest.mark.parametrize("url", ["/v1/models/", "models/a/b", "two words", "../etc"])
def test_a_model_url_without_one_name_is_refused(url: str) -> None:
    with pytest.raises(InvalidArgument, match="names no model"):
        training_spec(pb.CreateTaskRequest(name="x", url=url))


def test_a_model_url_and_another_architecture_are_refused() -> None:
    request = pb.CreateTaskRequest(name="x", url="models/a")
    request.config.update({"architecture": "cnn"})
    with pytest.raises(InvalidArgument, match="cannot name another"):
        training_spec(request)
