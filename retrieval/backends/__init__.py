"""Embedding backends behind `retrieval.embed.Encoder`, imported lazily by `load_encoder`.

Kept in a subpackage so `import retrieval.embed` stays cheap: torch is imported
only by the sentence-transformers backends and by the one-time ONNX export.
"""
