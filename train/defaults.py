"""Training constants the command line shows, in a module that imports nothing heavy (fast ``--help``)."""

STAGES = ("baseline", "sa", "ghcu")
PACK_QUALITY = 90  # WebP quality of packed crops
PACK_TRAIN_SIZE = 410  # the paper preset's 256 px input x the 1.6 augmentation margin: no detail lost
PACK_VAL_SIZE = 256
PACK_MARGIN = 1.6  # the presets' cache_margin
MAX_GPU_WORKERS = 16  # data-loader processes on CUDA: one per core, at most this many
