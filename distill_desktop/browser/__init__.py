"""The Runs tab: the runs table (runs_panel, runs_model), a run's checkpoints (checkpoints_panel),
the two composed with the plot (run_browser) and the tab that holds them (history_tab)."""
