"""Builds the tiny ONNX model packages that the perception runtime tests use.

Run:  .venv/bin/python test/models/make_test_models.py [--out test/models]

Writes (deterministic: seeded weights, fixed export settings):
  tiny-random/        random-weight patch-embed + 1 attention block image encoder (dynamic H,W), embedding +
                      mean-pool text encoder, word tokenizer. Exercises the manifest I/O contract only.
  tiny-random-fp16/   the same graphs converted to float16 (inputs and outputs float16).
  tiny-random-bpe/     CLIP-BPE tokenizer spec (ids 0..49407 hashed into 97 embedding rows), int32 input_ids.
                      The BPE vocab is NOT written (it is shared data); tests copy
                      ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz into a temporary copy of the package.
  tiny-proxyclip/     architecture 'proxyclip': the tiny-random graphs plus a vfm.onnx (patch colour features,
                      output "vfm_features"), to exercise loading / validating / running the optional VFM graph.
  tiny-analytic/      hand-set weights whose answer is known: the dense feature of a patch is
                      normalize([relu(r), relu(g), relu(b), 0.5]) of its mean normalised colour, and the text
                      embedding of a prompt is the normalised sum of its words' one-hot embeddings
                      (red -> e0, green -> e1, blue -> e2, background/table/wall/floor -> e3, other words -> 0).
                      A pure red region therefore scores highest for "red" and grey for the background prompts.
Each package gets model.json (manifest of src/perception/manifest.ts) with the real sha256 of every file.
Uses only torch 1.13 APIs (Debian python3-torch).
"""
import argparse
import hashlib
import json
import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn

CONTEXT = 77
PATCH = 8
WORDS = ["red", "green", "blue", "mug", "box", "bottle", "photo", "of", "a", "the", "background", "table",
         "wall", "floor", "object", "thing"]
VOCAB = ["<pad>", "<unk>"] + WORDS + ["<|startoftext|>", "<|endoftext|>"]
SOT, EOT = len(VOCAB) - 2, len(VOCAB) - 1
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


class RandomImageEncoder(nn.Module):
    """pixels [1,3,H,W] -> dense [1,h,w,D], global [1,D]; one pre-norm attention block, no position embedding."""

    def __init__(self, dim):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, PATCH, PATCH)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.dim = dim

    def forward(self, pixels):
        f = self.patch(pixels)  # [1,D,h,w]
        h, w = f.shape[2], f.shape[3]
        x = f.flatten(2).transpose(1, 2)  # [1,hw,D]
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / (self.dim ** 0.5), dim=-1)
        x = x + self.proj(a @ v)
        x = x + self.mlp(self.norm2(x))
        dense = F.normalize(x, dim=-1).reshape(1, h, w, self.dim)
        glob = F.normalize(x.mean(dim=1), dim=-1)
        return dense, glob


class RandomTextEncoder(nn.Module):
    """input_ids [N,77] int64 -> [N,D]: embedding, mean over non-pad tokens, linear, L2 norm."""

    def __init__(self, dim):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, input_ids):
        mask = (input_ids != 0).to(torch.float32).unsqueeze(-1)
        e = (self.emb(input_ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return F.normalize(self.proj(e), dim=-1)


class HashedBpeTextEncoder(nn.Module):
    """input_ids [N,77] int32 (CLIP BPE ids) -> [N,D]: ids mod 97 into a small embedding, masked mean, L2 norm."""

    def __init__(self, dim):
        super().__init__()
        self.emb = nn.Embedding(97, dim)

    def forward(self, input_ids):
        ids = input_ids.long()
        mask = (ids != 0).to(torch.float32).unsqueeze(-1)
        e = (self.emb(torch.remainder(ids, 97)) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return F.normalize(e, dim=-1)


class AnalyticImageEncoder(nn.Module):
    """Dense feature of a patch = normalize([relu(mean r), relu(mean g), relu(mean b), 0.5])."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 3, PATCH, PATCH, bias=False)
        with torch.no_grad():
            self.patch.weight.zero_()
            for c in range(3):
                self.patch.weight[c, c] = 1.0 / (PATCH * PATCH)

    def forward(self, pixels):
        f = torch.relu(self.patch(pixels)).permute(0, 2, 3, 1)  # [1,h,w,3]
        f = torch.cat([f, torch.full_like(f[..., :1], 0.5)], dim=-1)
        dense = F.normalize(f, dim=-1)
        glob = F.normalize(dense.mean(dim=(1, 2)), dim=-1)
        return dense, glob


class AnalyticTextEncoder(nn.Module):
    """Sum of one-hot word embeddings (specials and unknown words are zero), L2-normalised."""

    def __init__(self):
        super().__init__()
        table = torch.zeros(len(VOCAB), 4)
        for word, axis in [("red", 0), ("green", 1), ("blue", 2), ("background", 3), ("table", 3), ("wall", 3),
                           ("floor", 3)]:
            table[VOCAB.index(word), axis] = 1.0
        self.emb = nn.Embedding.from_pretrained(table, freeze=True)

    def forward(self, input_ids):
        return F.normalize(self.emb(input_ids).sum(dim=1), dim=-1)


class VfmOnly(nn.Module):
    """vfm.onnx stand-in: pixels -> vfm_features [1,h,w,4] (the analytic colour features)."""

    def __init__(self):
        super().__init__()
        self.enc = AnalyticImageEncoder()

    def forward(self, pixels):
        return self.enc(pixels)[0]


def export(module, args, path, inputs, outputs, dynamic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module.eval(), args, path, input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic, opset_version=17, do_constant_folding=True)


def to_fp16(path):
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    m = onnx.load(path)
    m16 = convert_float_to_float16(m, keep_io_types=False, op_block_list=list(DEFAULT_OP_BLOCK_LIST))
    onnx.save(m16, path)


def write_package(out, name, img, txt, dim, logit_scale, source, fp16=False, templates=None, bpe=False,
                  vfm=None):
    os.makedirs(out, exist_ok=True)
    img_path = os.path.join(out, "image_encoder.onnx")
    txt_path = os.path.join(out, "text_encoder.onnx")
    export(img, (torch.zeros(1, 3, 32, 48),), img_path, ["pixels"], ["dense_features", "global_embedding"],
           {"pixels": {2: "height", 3: "width"}, "dense_features": {1: "grid_h", 2: "grid_w"}})
    ids = torch.zeros(2, CONTEXT, dtype=torch.int32 if bpe else torch.int64)
    ids[:, 0], ids[:, 1], ids[:, 2] = (49406, 320, 49407) if bpe else (SOT, 2, EOT)
    export(txt, (ids,), txt_path, ["input_ids"], ["text_embeddings"],
           {"input_ids": {0: "batch"}, "text_embeddings": {0: "batch"}})
    if vfm is not None:
        export(vfm, (torch.zeros(1, 3, 32, 48),), os.path.join(out, "vfm.onnx"), ["pixels"], ["vfm_features"],
               {"pixels": {2: "height", 3: "width"}, "vfm_features": {1: "grid_h", 2: "grid_w"}})
    if fp16:
        to_fp16(img_path)
        to_fp16(txt_path)
    if bpe:
        tokenizer = {"type": "clip-bpe", "vocab_file": "bpe_simple_vocab_16e6.txt.gz", "context_length": CONTEXT,
                     "sot_id": 49406, "eot_id": 49407, "pad_id": 0}
    else:
        with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(VOCAB) + "\n")
        tokenizer = {"type": "word", "vocab_file": "vocab.txt", "context_length": CONTEXT, "lowercase": True,
                     "sot_id": SOT, "eot_id": EOT, "unk_id": 1, "pad_id": 0}
    dtype = "float16" if fp16 else "float32"
    manifest = {
        "format_version": 1,
        "name": name,
        "version": "0.0.1",
        "architecture": "proxyclip" if vfm is not None else "clip-vanilla",
        "image": {"input_size": [32, 32], "resize": "short_side", "patch_size": PATCH, "dynamic_hw": True,
                  "mean": MEAN, "std": STD},
        "feature_dim": dim,
        "logit_scale": logit_scale,
        "tokenizer": tokenizer,
        "text": {"input_dtype": "int32" if bpe else "int64"},
        "prompt_templates": templates or ["a photo of a {}.", "{}"],
        "files": {
            "image_encoder": {"file": "image_encoder.onnx", "sha256": sha256_file(img_path), "inputs": ["pixels"],
                              "outputs": ["dense_features", "global_embedding"], "dtype": dtype},
            "text_encoder": {"file": "text_encoder.onnx", "sha256": sha256_file(txt_path), "inputs": ["input_ids"],
                             "outputs": ["text_embeddings"], "dtype": dtype},
        },
        "provenance": {"source": source, "command": "python test/models/make_test_models.py",
                       "exporter": f"torch {torch.__version__}, opset 17"},
    }
    if vfm is not None:
        manifest["files"]["vfm"] = {"file": "vfm.onnx", "sha256": sha256_file(os.path.join(out, "vfm.onnx")),
                                    "inputs": ["pixels"], "outputs": ["vfm_features"], "dtype": dtype}
    with open(os.path.join(out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.manual_seed(0)
    dim = 16
    img, txt = RandomImageEncoder(dim), RandomTextEncoder(dim)
    write_package(os.path.join(args.out, "tiny-random"), "tiny-random", img, txt, dim, 100.0,
                  "random init (test), seed 0")
    write_package(os.path.join(args.out, "tiny-random-fp16"), "tiny-random-fp16", img, txt, dim, 100.0,
                  "random init (test), seed 0, float16", fp16=True)
    write_package(os.path.join(args.out, "tiny-proxyclip"), "tiny-proxyclip", img, txt, dim, 100.0,
                  "random init (test), seed 0, + colour-feature VFM", vfm=VfmOnly())
    torch.manual_seed(1)
    write_package(os.path.join(args.out, "tiny-random-bpe"), "tiny-random-bpe", img, HashedBpeTextEncoder(dim), dim,
                  100.0, "random init (test), seed 1, CLIP BPE ids hashed", bpe=True)
    write_package(os.path.join(args.out, "tiny-analytic"), "tiny-analytic", AnalyticImageEncoder(),
                  AnalyticTextEncoder(), 4, 50.0, "hand-set weights (test): colour one-hot features")


if __name__ == "__main__":
    main()
