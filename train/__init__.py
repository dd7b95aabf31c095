"""Training: baseline hourglass, Semantic Alignment alternation, GHCU. Run with ``tracker train``."""
