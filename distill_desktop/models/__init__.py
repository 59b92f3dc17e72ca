"""Qt-free data the window draws: a run's metrics as one columnar model (run_series), stored runs
read into it (run_curves), the loss plot's curves over it (loss_data), and growing arrays with
their envelopes and smoothing (series). Testable without a display; an import contract forbids Qt
here."""
