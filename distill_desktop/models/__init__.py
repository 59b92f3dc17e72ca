"""Qt-free data the window draws: growing series and their envelopes (series), a run's loss curves
(loss_data) and the stored curves of a run (run_curves). Testable without a display; an import
contract forbids Qt here."""
