"""Widget parts that several panels share (not panels themselves): the redraw scheduling of plots."""
