"""The network runtime: weights lookup, devices, frozen and int8 graphs, heatmap decoding, the predictor."""
