"""Video decoding and encoding, per-frame output files, ``.pts`` files and overlay drawing."""
