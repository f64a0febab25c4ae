/**
 * Model package manifest (`model.json`). This file is the contract between the Python exporter
 * (src/training/python) and the TypeScript runtime (src/perception). Keep both in sync; the
 * exporter writes exactly these fields (snake_case in JSON).
 *
 * A model package is a directory:
 *   model.json            this manifest
 *   image_encoder.onnx    input  "pixels"        float32|float16 [1,3,H,W] (already normalised with mean/std)
 *                         output "dense_features" [1,h,w,D] L2-normalised along D (h=H/patch, w=W/patch)
 *                         output "global_embedding" [1,D] (L2-normalised)
 *   text_encoder.onnx     input  "input_ids"     int64 (or int32, see text.input_dtype) [N,context_length]
 *                         output "text_embeddings" [N,D] (L2-normalised)
 *   vfm.onnx (optional)   input "pixels" [1,3,H,W] -> output "vfm_features" [1,h',w',Dv] (ProxyCLIP mode)
 *   vocab file            referenced by tokenizer.vocab_file (bpe .txt.gz, or a word list .txt / .json)
 */

export type Architecture = 'declip-csa' | 'declip-qq' | 'clip-vanilla' | 'proxyclip';
export type ResizePolicy = 'short_side' | 'long_side' | 'fixed';

export interface OnnxFileSpec {
  file: string;
  sha256: string;
  /** Input / output tensor names, in order. */
  inputs: string[];
  outputs: string[];
  /** 'float32' | 'float16' for the float tensors of this graph. */
  dtype: 'float32' | 'float16';
}

export interface ModelManifest {
  format_version: 1;
  name: string;
  version: string;
  architecture: Architecture;
  image: {
    /** Target size: for 'fixed' [H, W]; for 'short_side'/'long_side' the side length in [0]. */
    input_size: [number, number];
    resize: ResizePolicy;
    patch_size: number;
    /** Whether H and W may differ from input_size at runtime (dynamic axes exported). */
    dynamic_hw: boolean;
    mean: [number, number, number];
    std: [number, number, number];
  };
  feature_dim: number;
  logit_scale: number;
  tokenizer: {
    type: 'clip-bpe' | 'word';
    /** Relative to the package directory. */
    vocab_file: string;
    context_length: number;
    /** For 'word': lower-case, split on non-alphanumerics; unknown words map to unk_id. */
    lowercase?: boolean;
    sot_id?: number;
    eot_id?: number;
    unk_id?: number;
    pad_id?: number;
  };
  text: { input_dtype: 'int64' | 'int32' };
  prompt_templates: string[];
  /**
   * Optional background / "other" prompts that suit this model (default: background, table, wall, floor). A small
   * model trained on a closed world may need its own; the Perceiver option `backgroundPrompts` overrides both.
   */
  background_prompts?: string[];
  /**
   * Optional offset added to the background prompts' logits (default 0), calibrated per model: the embedded
   * model's comes from `synthCalibrateCli` on training frames. The Perceiver option `backgroundLogitOffset`
   * overrides it.
   */
  background_logit_offset?: number;
  files: {
    image_encoder: OnnxFileSpec;
    text_encoder: OnnxFileSpec;
    vfm?: OnnxFileSpec;
  };
  provenance: {
    source: string; // e.g. 'openai ViT-B/16 + DeCLIP distillation', 'random init (test)', 'tiny-synth'
    data?: string;
    teachers?: string[];
    commit?: string;
    command?: string;
    notes?: string;
    [k: string]: unknown;
  };
}
