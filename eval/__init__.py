"""Evaluation: metrics and the paper's protocols (300-W, AFLW, 300-VW) plus stress benchmarks."""
