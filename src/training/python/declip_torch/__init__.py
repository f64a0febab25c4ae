"""declip_torch: PyTorch model zoo (CLIP / EVA02-CLIP / DINOv2 ViTs, DeCLIP, ProxyCLIP), checkpoint key maps and
the ONNX exporter that writes declip-ros model packages (see src/perception/manifest.ts)."""

__version__ = "0.1.0"
