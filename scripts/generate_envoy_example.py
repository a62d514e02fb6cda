"""Regenerate the example Envoy config in envoy/ (never edit it by hand).

    python scripts/generate_envoy_example.py          # write envoy/envoy.yaml and envoy/aifarm.pb
    python scripts/generate_envoy_example.py --check  # exit 1 when envoy/ is stale

The example serves the listener table at its documented ports in front of a
controller at 127.0.0.1:50051, with Envoy's admin on 127.0.0.1:9901. It names
its descriptor set relative to the repository root, so run it from there:
``envoy -c envoy/envoy.yaml``. It goes stale whenever a proto, the listener
table or gateway/envoy.py changes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from gateway.envoy import CONFIG_FILE, DESCRIPTOR_FILE, write_envoy_config
from gateway.listeners import default_binds

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "envoy"
CONTROLLER = "127.0.0.1:50051"
ADMIN = ("127.0.0.1", 9901)
DESCRIPTOR_PATH = f"{OUT.name}/{DESCRIPTOR_FILE}"


def generate(out: Path) -> None:
    write_envoy_config(out, CONTROLLER, default_binds(), admin=ADMIN, descriptor_path=DESCRIPTOR_PATH)


def stale_files() -> list[str]:
    """The example's files that differ from a fresh generation (missing ones included)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        return [
            name
            for name in (CONFIG_FILE, DESCRIPTOR_FILE)
            if not (OUT / name).is_file() or (OUT / name).read_bytes() != (fresh / name).read_bytes()
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when envoy/ is stale")
    ns = parser.parse_args()
    if not ns.check:
        generate(OUT)
        print(f"generated {OUT.relative_to(ROOT)}/{CONFIG_FILE} and {DESCRIPTOR_FILE}")
        return
    stale = stale_files()
    if stale:
        sys.exit(f"envoy/ is stale ({', '.join(stale)}); run: python scripts/generate_envoy_example.py")
    print("envoy/ is fresh")


if __name__ == "__main__":
    main()
