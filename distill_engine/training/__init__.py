"""The training loop (trainer), its resumable state, the events it emits (the metric schema),
divergence detection and the text lines that report progress. Importing this package loads nothing:
`training.events` and `training.reporting` stay free of torch for the desktop's start-up."""
