"""The serving spec: a model served from a device of one node by an inference server process.

The server runs as long as its task: cancelling the task stops it, and a server that dies fails it.
"torch" is built in (agent.serving.torch_server); another framework must be installed on the node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from taskspec.errors import SpecError
from taskspec.model_operation import check_device, check_model_name

BUILT_IN_FRAMEWORK = "torch"
#: What a service holds of its node's CPU: a server mostly waits, and must not keep the node's
#: one-core operations (downloads, copies) from running beside it.
SERVICE_CPU_CORES = 0.1
MAX_CONFIG_BYTES = 16 << 10


@dataclass(frozen=True)
class ServingSpec:
    model: str
    device: str = "disk"
    #: 0: any free port.
    port: int = 0
    framework: str = BUILT_IN_FRAMEWORK
    config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        check_model_name(self.model)
        check_device(self.device)
        if not 0 <= self.port <= 65535:
            raise SpecError(f"port must be 1 to 65535 (0: any free one), not {self.port}")
        if not self.framework.isidentifier() or len(self.framework) > 32:
            raise SpecError(f"framework {self.framework[:40]!r} is not a framework name (for example torch)")
        if len(json.dumps(self.config)) > MAX_CONFIG_BYTES:
            raise SpecError(f"config is larger than {MAX_CONFIG_BYTES} bytes of JSON")
