"""Following faces over frames: detection schedule, tracks, face check, Kalman smoothing."""
