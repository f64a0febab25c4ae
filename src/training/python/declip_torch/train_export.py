"""Export a finished training run as a model package (through `declip_torch.export`, parity included) and record
the training provenance (data, teachers, steps, losses, commit) in model.json.

    python -m declip_torch.train_export --run runs/NAME --out runs/NAME/model --bpe-vocab bpe_simple_vocab_16e6.txt.gz

Prints JSON lines (events `export-log`, `export`, `error`) on stdout. Exit codes: 0 ok, 2 bad input, 3 parity failure.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from .config import PRESETS
from .errors import ConfigError, DeclipError, ParityError
from .export import ExportOptions, export_package


def _read_summary(run_dir: str) -> Dict[str, Any]:
    path = os.path.join(run_dir, "summary.json")
    if not os.path.isfile(path):
        raise ConfigError(f"run: {path} not found; the training run has not finished (run `declip train` again "
                          f"with the same --out to resume it)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def export_trained(run_dir: str, out: str, *, bpe_vocab: Optional[str] = None, word_vocab: Optional[str] = None,
                   input_size: Optional[Tuple[int, int]] = None, name: Optional[str] = None,
                   parity_runtime: str = "auto", fp16: bool = False, command: Optional[str] = None,
                   log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Export OUT/final/student.pt of a finished run; returns the manifest (model.json) written."""
    s = _read_summary(run_dir)
    backbone = s["backbone"]
    if backbone not in PRESETS:
        raise ConfigError(f"backbone: the run's preset {backbone!r} is not registered in declip_torch/config.py "
                          f"PRESETS, so the exporter cannot rebuild it; register it there first")
    tr = s.get("training", {})
    size = input_size or (int(s["input_size"]), int(s["input_size"]))
    src = (f"DeCLIP distillation (declip train) of {tr.get('base')} on {tr.get('frames')} frames of "
           f"{os.path.basename(str(tr.get('data', '')).rstrip('/'))}, {tr.get('steps')} steps")
    opts = ExportOptions(arch=s["arch"], backbone=backbone, out=out, checkpoint=s["student"], input_size=size,
                         bpe_vocab=bpe_vocab, word_vocab=word_vocab, name=name, scale=s.get("scale"),
                         parity_runtime=parity_runtime, fp16=fp16, source=src, command=command)
    manifest = export_package(opts, log=log)
    prov = dict(manifest.get("provenance", {}))
    prov["data"] = tr.get("data")
    prov["teachers"] = list(tr.get("teachers") or [])
    prov["training"] = {k: tr.get(k) for k in ("frames", "train_frames", "val_frames", "steps", "arch", "base",
                                               "vfm", "weights", "context_form", "lr", "batch_size",
                                               "accumulation", "ensemble_alpha", "seed", "loss_first",
                                               "loss_last", "terms_first", "terms_last", "commit", "trainer",
                                               "fingerprint")}
    if s.get("eval"):
        prov["training"]["eval"] = s["eval"]
    if tr.get("commit") and not prov.get("commit"):
        prov["commit"] = tr["commit"]
    manifest["provenance"] = prov
    path = os.path.join(out, "model.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, path)
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m declip_torch.train_export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="training run directory (holds summary.json, final/student.pt)")
    ap.add_argument("--out", required=True, help="package directory to write")
    ap.add_argument("--bpe-vocab")
    ap.add_argument("--word-vocab")
    ap.add_argument("--input-size", type=int)
    ap.add_argument("--name")
    ap.add_argument("--fp16", action="store_true")
    ap.add_argument("--parity-runtime", default="auto")
    a = ap.parse_args(argv)

    def emit(event: str, **kw: Any) -> None:
        print(json.dumps({"event": event, **kw}), flush=True)

    try:
        m = export_trained(a.run, a.out, bpe_vocab=a.bpe_vocab, word_vocab=a.word_vocab,
                           input_size=(a.input_size, a.input_size) if a.input_size else None, name=a.name,
                           parity_runtime=a.parity_runtime, fp16=a.fp16,
                           command=shlex.join(["python", "-m", "declip_torch.train_export"] + argv),
                           log=lambda msg: emit("export-log", message=msg))
        emit("export", out=a.out, parity=m["provenance"].get("parity"), name=m.get("name"))
        return 0
    except ParityError as e:
        emit("error", code="parity", message=str(e), hint="the exported graph disagrees with PyTorch; report it")
        return 3
    except DeclipError as e:
        emit("error", code="export", message=str(e), hint="")
        return 2


if __name__ == "__main__":
    sys.exit(main())
