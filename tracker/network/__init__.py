"""The network runtime: weights lookup, devices, the per-crop computation (defined once, run by ONNX
Runtime or PyTorch), its codec, its graph cache and the predictors."""
