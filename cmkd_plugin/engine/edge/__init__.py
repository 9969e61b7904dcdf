"""Edge deployment: ONNX export with the model card as ONNX metadata, int8 quantisation, an
onnxruntime predictor (so ``classify`` runs ``.onnx`` files) and a size/latency/energy report.

onnx and onnxruntime are imported inside the functions that need them, so importing this package
costs nothing when no ONNX file is involved.
"""
