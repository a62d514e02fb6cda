"""Regenerate the Python code for proto/ into gen/python (never edit it by hand).

    python scripts/generate_protos.py          # write gen/python
    python scripts/generate_protos.py --check  # exit 1 when gen/python is stale

google/api and google/rpc come from the googleapis-common-protos wheel, so only
aifarm's own protos are generated here.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GOOGLEAPIS = ROOT / "third_party" / "googleapis"
OUT = ROOT / "gen" / "python"


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{GOOGLEAPIS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed; see the messages above")
    # Packages need __init__.py so setuptools and mypy see them as regular packages.
    for directory in [out, *[d for d in out.rglob("*") if d.is_dir()]]:
        if directory != out:
            (directory / "__init__.py").touch()


def _differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    diffs = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for sub in cmp.common_dirs:
        diffs += [f"{sub}/{d}" for d in _differences(a / sub, b / sub)]
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when gen/python is stale")
    ns = parser.parse_args()
    if not ns.check:
        shutil.rmtree(OUT, ignore_errors=True)
        generate(OUT)
        print(f"generated {OUT.relative_to(ROOT)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        stale = _differences(fresh, OUT) if OUT.exists() else ["gen/python missing"]
    if stale:
        sys.exit(f"gen/python is stale ({', '.join(stale[:5])}); run: python scripts/generate_protos.py")
    print("gen/python is fresh")


if __name__ == "__main__":
    main()
