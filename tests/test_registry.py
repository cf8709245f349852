import subprocess
import sys

import pytest

from panokit.errors import FormatNotImplementedError, UnknownFormatError
from panokit.formats.registry import FORMATS, get_format

PLANNED = [
    "coco-panoptic",
    "cityscapes",
    "bdd100k",
    "mapillary-vistas",
    "pastis",
    "semantic-kitti",
    "nuscenes",
    "scannet",
]


def test_all_eight_formats_are_listed():
    assert sorted(FORMATS) == sorted(PLANNED)


def test_wrong_name_suggests_the_closest():
    with pytest.raises(
        UnknownFormatError,
        match=r"unknown format 'semantic_kitti'; did you mean 'semantic-kitti'\?",
    ):
        get_format("semantic_kitti")


def test_planned_format_says_so():
    for spec in FORMATS.values():
        if not spec.implemented:
            with pytest.raises(
                FormatNotImplementedError, match="is planned but not implemented yet"
            ):
                spec.load()


def test_import_panokit_needs_no_optional_packages():
    code = (
        "import sys\n"
        "for name in ['torch', 'fastapi', 'httpx', 'sqlalchemy', 'skimage', 'matplotlib', 'pycocotools']:\n"
        "    sys.modules[name] = None\n"
        "import panokit, panokit.core, panokit.formats, panokit.dataset\n"
        "import panokit.formats.coco_panoptic\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_core_imports_nothing_else_of_panokit():
    import ast
    from pathlib import Path

    import panokit.core

    allowed = ("panokit.core", "panokit.errors")
    offenders = []
    for path in Path(panokit.core.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "panokit" and not name.startswith(allowed):
                    offenders.append(f"{path.name}: {name}")
                if (
                    top not in ("panokit", "numpy", "__future__")
                    and top not in sys.stdlib_module_names
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
