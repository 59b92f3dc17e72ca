"""The run store: one folder per run with a SQLite database (schema), written by one RunWriter
(writer, step_blocks, recorder), read by any number of readers (reader), and changed afterwards only
by the browser's actions (admin)."""
