"""Labels on a capture (标注): what a supervisor says the snapshot of a detection case shows."""
