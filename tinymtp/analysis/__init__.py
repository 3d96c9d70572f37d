"""Measuring what the model and its decoders do: per-head predictions, the decoding speed-up and
its cost model, training-cost benchmarks, tree calibration, and the counting behind the notebooks'
information-theory and sampling checks. Nothing here changes a model.
"""
