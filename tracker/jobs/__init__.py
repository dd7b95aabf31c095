"""The work behind the commands: one video (``pipeline``), many videos (``batch``), a camera (``live``), the demo."""
