"""Our own category classifier (``docs/category-model.md``): features from the snapshot, a numpy-trained
embedding-bag model, exported to ONNX and run with onnxruntime by the prediction engine.

Robotoff's neural classifier needs CLIP image embeddings and a Triton server; this one reads only product
fields (names in every language, ingredient tags, a few nutrients), so it runs over every product of the
dump in the nightly run and on one product in the per-product path, through the same functions.
"""
