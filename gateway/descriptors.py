"""Finding services in a descriptor pool, and writing FileDescriptorSets.

The gateway reads everything it needs (HTTP rules, message shapes) from the
descriptors that the generated ``*_pb2`` modules register in a pool, so an
endpoint needs no code of its own: adding a proto and regenerating is enough.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

# Imported for their side effect: they register google.api / google.rpc
# descriptors (HTTP rules, HttpBody, error details) in the default pool.
from google.api import annotations_pb2, httpbody_pb2  # noqa: F401
from google.rpc import error_details_pb2, status_pb2  # noqa: F401

# Error details must be in Envoy's descriptor set or it drops them
# (DESIGN, Gateway); the same holds for printing them in Python.
ALWAYS_INCLUDED = ("google/rpc/error_details.proto", "google/rpc/status.proto")


def import_generated(package: str = "aifarm") -> list[str]:
    """Import every ``*_pb2`` module under ``package`` so its services are in the default pool."""
    root = importlib.import_module(package)
    names: list[str] = []
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)
            names.append(info.name)
    return names


def find_services(
    names: Iterable[str], pool: descriptor_pool.DescriptorPool | None = None
) -> list[ServiceDescriptor]:
    """Look services up by full name; KeyError names the one missing."""
    pool = pool or descriptor_pool.Default()
    found: list[ServiceDescriptor] = []
    for name in names:
        try:
            found.append(pool.FindServiceByName(name))
        except KeyError:
            raise KeyError(f"service {name!r} is not in the descriptor pool; import its _pb2 module") from None
    return found


def file_descriptor_set(
    services: Sequence[ServiceDescriptor],
    pool: descriptor_pool.DescriptorPool | None = None,
    extra_files: Sequence[str] = ALWAYS_INCLUDED,
) -> descriptor_pb2.FileDescriptorSet:
    """The files defining ``services`` with all transitive imports, dependencies first."""
    pool = pool or descriptor_pool.Default()
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    for name in extra_files:
        visit(pool.FindFileByName(name))
    for svc in sorted(services, key=lambda s: s.full_name):
        visit(svc.file)
    out = descriptor_pb2.FileDescriptorSet()
    for fd in ordered:
        fd.CopyToProto(out.file.add())
    return out
