"""model.json written by the exporter against the TypeScript contract in src/perception/manifest.ts (parsed)."""
import json
import os
import re

import pytest

from declip_torch.config import ARCHITECTURES
from declip_torch.export import ExportOptions, export_package

MANIFEST_TS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "perception", "manifest.ts")


def _strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def _block_fields(body):
    """{field: optional} of the top level of a `{ ... }` body (nested object types count as one field)."""
    fields, depth, entry = {}, 0, ""
    for ch in body + ";":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and ch in ";\n":
            m = re.match(r"\s*(\w+)(\?)?:", entry)
            if m:
                fields[m.group(1)] = bool(m.group(2))
            entry = ""
        else:
            entry += ch
    return fields


def _braced(src, pos):
    """Text inside the braces that open at or after `pos`."""
    i = src.index("{", pos)
    depth = 0
    for j in range(i, len(src)):
        depth += {"{": 1, "}": -1}.get(src[j], 0)
        if depth == 0:
            return src[i + 1:j]
    raise ValueError("unbalanced braces")


def _interface_fields(src, name):
    src = _strip_comments(src)
    return _block_fields(_braced(src, src.index(f"export interface {name} {{")))


def _nested_fields(src, iface, field):
    src = _strip_comments(src)
    body = _braced(src, src.index(f"export interface {iface} {{"))
    return _block_fields(_braced(body, re.search(rf"\b{field}\??:\s*{{", body).start()))


@pytest.fixture(scope="module")
def src():
    return open(MANIFEST_TS, encoding="utf-8").read()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    words = d / "w.txt"
    words.write_text("mug\n")
    return export_package(ExportOptions(arch="proxyclip", backbone="tiny", vfm_backbone="tiny-dinov2-reg",
                                        out=str(d / "pkg"), random_init=True, word_vocab=str(words)),
                          log=lambda s: None)


def _check(obj, spec, where):
    for k, optional in spec.items():
        if not optional:
            assert k in obj, f"{where}.{k} required by manifest.ts"
    for k in obj:
        assert k in spec, f"{where}.{k} is not declared in manifest.ts"


def test_architectures_match_the_typescript_union(src):
    union = re.search(r"export type Architecture = ([^;]+);", src).group(1)
    assert tuple(re.findall(r"'([\w-]+)'", union)) == ARCHITECTURES


def test_model_json_fields_are_exactly_the_declared_ones(src, manifest):
    _check(manifest, _interface_fields(src, "ModelManifest"), "model.json")
    for nested in ("image", "tokenizer", "text", "files"):
        _check(manifest[nested], _nested_fields(src, "ModelManifest", nested), nested)
    spec = _interface_fields(src, "OnnxFileSpec")
    for name, f in manifest["files"].items():
        _check(f, spec, f"files.{name}")
    prov = _nested_fields(src, "ModelManifest", "provenance")
    for k, optional in prov.items():
        if not optional:
            assert k in manifest["provenance"]
    json.dumps(manifest)  # JSON-serialisable as written
